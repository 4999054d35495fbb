"""Reading the environment into resource configuration: secrets as `dg.EnvVar`s (resolved when
the resource is used, never shown in the UI), unset variables as None."""

import os

import dagster as dg


def env_var(name: str) -> dg.EnvVar | None:
    return dg.EnvVar(name) if os.environ.get(name) else None
