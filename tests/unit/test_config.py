from __future__ import annotations

from andon.config import deep_merge, env_overrides, load_settings


def test_local_profile_is_embedded(tmp_path):
    cfg = load_settings(environ={"ANDON_HOME": str(tmp_path)})
    assert cfg.profile == "local"
    assert cfg.raw["spark"]["master"].startswith("local")
    assert cfg.lakehouse_root == f"{tmp_path}/lakehouse"
    assert cfg.table_path("silver", "test_results") == f"{tmp_path}/lakehouse/silver/test_results"
    assert cfg.raw["mlflow"]["tracking_uri"] == f"sqlite:///{tmp_path}/mlflow.db"
    assert cfg.is_local_storage


def test_cluster_profile_switches_engines_not_code(tmp_path):
    cfg = load_settings("cluster", environ={"ANDON_HOME": str(tmp_path)})
    assert cfg.raw["spark"]["master"].startswith("spark://")
    assert cfg.lakehouse_root.startswith("s3a://")
    assert not cfg.is_local_storage
    # base settings survive the overlay
    assert cfg.raw["spark"]["conf"]["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert "javax.jdo.option.ConnectionURL" in cfg.raw["metastore"]["hive_conf"]


def test_environment_overrides_win(tmp_path):
    env = {"ANDON_HOME": str(tmp_path), "ANDON__SPARK__MASTER": "spark://h:7077",
           "ANDON__SPARK__CONF__spark.executor.memory": "16g", "ANDON__PATHS__LAKEHOUSE": "s3a://b/lake"}
    cfg = load_settings(environ=env)
    assert cfg.raw["spark"]["master"] == "spark://h:7077"
    assert cfg.raw["spark"]["conf"]["spark.executor.memory"] == "16g"
    assert cfg.table_path("bronze", "x") == "s3a://b/lake/bronze/x"


def test_extra_config_file(tmp_path):
    extra = tmp_path / "site.yaml"
    extra.write_text("spark:\n  master: local[1]\n")
    cfg = load_settings(environ={"ANDON_HOME": str(tmp_path), "ANDON_CONFIG": str(extra)})
    assert cfg.raw["spark"]["master"] == "local[1]"


def test_merge_and_env_parsing():
    assert deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}}) == {"a": {"b": 1, "c": 3}}
    assert env_overrides({"ANDON__X__Y": "1", "OTHER": "2"}) == {"x": {"y": "1"}}


def test_spark_conf_carries_delta_and_metastore(tmp_path):
    from andon.spark import spark_conf

    conf = spark_conf(load_settings(environ={"ANDON_HOME": str(tmp_path)}))
    assert conf["spark.jars.packages"] == "io.delta:delta-spark_4.2_2.13:4.4.0"
    assert conf["spark.sql.catalog.spark_catalog"] == "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    assert f"-Dderby.system.home={tmp_path}/metastore" in conf["spark.driver.extraJavaOptions"]
    assert conf["spark.sql.warehouse.dir"] == f"{tmp_path}/metastore/warehouse"


def test_delta_jar_matches_python_package():
    from importlib.metadata import version

    from andon.config import load_settings as ls

    packages = ls(environ={}).raw["spark"]["packages"]
    assert any(p.endswith(f":{version('delta-spark')}") for p in packages)
