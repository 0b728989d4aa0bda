"""Early-warning models (incoming material, factory output, field returns): next stage, see ml/README.md."""
