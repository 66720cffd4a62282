import central.storage.postgres as P
from test_pg_concurrency import test_overlapping_batches_from_two_writers_store_every_seq_once as t1
def test_exp(open_backend, monkeypatch, caplog):
    monkeypatch.setattr(P, "_by_node", lambda b: list(b))
    monkeypatch.setattr(P, "_TX_ATTEMPTS", 50)
    t1(open_backend)
    print("conflict retries:", caplog.text.count("transaction conflict"))
