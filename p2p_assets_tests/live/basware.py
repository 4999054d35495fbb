"""Ground truth of a served Basware sandbox, compared with what the product's warehouse holds."""

import os
from contextlib import contextmanager

from p2p_assets.sandbox.basware import BaswareSandbox
from p2p_assets.sandbox.basware.env import config_from_env
from p2p_assets_tests.live.conftest import BASWARE_CREDENTIALS, Product, Served


@contextmanager
def environment(env: dict[str, str]):
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def sandbox_of(served: Served) -> BaswareSandbox:
    """The served process's tenant, opened on its state directory (same config, same truth)."""
    with environment(served.env):
        return BaswareSandbox(config_from_env(), served.state_dir)


def live_env(served: Served, **extra: str) -> dict[str, str]:
    return {"BASWARE_API_URL": served.url, **BASWARE_CREDENTIALS, **extra}


def mismatches(product: Product, sandbox: BaswareSandbox) -> list[str]:
    """Differences between every `basware.<table>` and the truth: ids, then each value and its
    Python type. Empty when they agree."""
    problems = []
    tables = [t["Table name"] for t in sandbox.table_definition()]
    present = {name for (name,) in product.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'basware'"
    )}  # fmt: skip
    for table in tables:
        truth = {r["ID"]: r for r in sandbox.truth(table)}
        if table.lower() not in present:
            problems.append(f"basware.{table.lower()} does not exist")
            continue
        loaded = {r["ID"]: r for r in product.records("basware", table.lower())}
        if set(loaded) != set(truth):
            problems.append(
                f"basware.{table.lower()}: {len(set(truth) - set(loaded))} ids missing, "
                f"{len(set(loaded) - set(truth))} unexpected"
            )
            continue
        for record_id, expected in truth.items():
            for column, value in expected.items():
                actual = loaded[record_id].get(column, "<no such column>")
                if actual != value or (value is not None and type(actual) is not type(value)):
                    problems.append(f"{table} {record_id} {column}: {actual!r} != {value!r}")
    return problems


def assert_truth(product: Product, served: Served) -> None:
    problems = mismatches(product, sandbox_of(served))
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:10])
