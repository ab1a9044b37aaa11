"""Config precedence on a running server: defaults < file < BROKER_* env < flags."""

from __future__ import annotations

import urllib.parse

from broker.runtime.config import load
from tests.helpers.brokerproc import BrokerProcess


def test_precedence_unit(tmp_path):
    cfg = tmp_path / "b.toml"
    cfg.write_text('[store]\ndurability = "memory"\n[server]\nworkers = 3\nshards = 4\n')
    env = {"BROKER_STORE_DURABILITY": "fsync", "BROKER_SERVER_WORKERS": "5"}
    c = load(str(cfg), env=env, overrides={"store.durability": "process"})
    assert c["store.durability"] == "process"      # flag beats env beats file
    assert c["server.workers"] == 5                # env beats file
    assert c["server.shards"] == 4                 # file beats default
    assert c["server.log_level"] == "info"         # default


def test_precedence_visible_in_info(tmp_path):
    cfg = tmp_path / "b.toml"
    cfg.write_text('[store]\ndurability = "memory"\npartitions = 3\n[server]\nworkers = 2\nshards = 2\n')
    # file only
    with BrokerProcess(tmp_path / "d1", "--config", cfg) as b:
        info = b.info()
        assert (info["durability"], info["partitions"], info["workers"], info["shards"]) == ("memory", 3, 2, 2)
        assert b.stop()[0] == 0
    # env beats file
    env = {"BROKER_STORE_DURABILITY": "fsync", "BROKER_SERVER_SHARDS": "1"}
    with BrokerProcess(tmp_path / "d2", "--config", cfg, env=env) as b:
        info = b.info()
        assert (info["durability"], info["partitions"], info["workers"], info["shards"]) == ("fsync", 3, 2, 1)
        assert b.stop()[0] == 0
    # flags beat env (and file)
    with BrokerProcess(tmp_path / "d3", "--config", cfg, "--durability", "process", "--workers", "1",
                       env=env) as b:
        info = b.info()
        assert (info["durability"], info["partitions"], info["workers"], info["shards"]) == ("process", 3, 1, 1)
        assert b.stop()[0] == 0


def test_http_port_from_env_and_flag(tmp_path):
    import socket
    def free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    p_env, p_flag = free_port(), free_port()
    env = {"BROKER_LISTENERS_HTTP_PORT": str(p_env)}
    with BrokerProcess(tmp_path / "d1", "--workers", "1", "--shards", "1", env=env, free_ports=False) as b:
        assert urllib.parse.urlsplit(b.url).port == p_env
        assert urllib.parse.urlsplit(b.info()["endpoints"]["https"]).port == p_env
        assert b.stop()[0] == 0
    with BrokerProcess(tmp_path / "d2", "--workers", "1", "--shards", "1", "--http-port", str(p_flag),
                       env=env, free_ports=False) as b:
        assert urllib.parse.urlsplit(b.url).port == p_flag
        assert b.stop()[0] == 0
