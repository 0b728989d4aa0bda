"""Landing: source files -> bronze -> silver, driven by the data dictionary."""
