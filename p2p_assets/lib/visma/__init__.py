"""Client for the Visma Youforce File API: token auth with a shared cache, pacing, files."""

from p2p_assets.lib.visma.auth import CONNECT_TOKEN_URL, LEGACY_TOKEN_URL, VismaTokenAuth
from p2p_assets.lib.visma.client import CURRENT_URL, LEGACY_URL, VismaClient
from p2p_assets.lib.visma.errors import (
    VismaAPIError,
    VismaAuthError,
    VismaConfigError,
    VismaConnectionError,
    VismaDownloadError,
    VismaError,
    VismaFileNameError,
    VismaQuotaError,
    VismaRateLimitError,
    VismaResponseError,
)
from p2p_assets.lib.visma.models import VismaFile, parse_visma_datetime
from p2p_assets.lib.visma.pacing import Pacer, PacingTransport
from p2p_assets.lib.visma.upload import validate_file_name

__all__ = [
    "CONNECT_TOKEN_URL",
    "CURRENT_URL",
    "LEGACY_TOKEN_URL",
    "LEGACY_URL",
    "Pacer",
    "PacingTransport",
    "VismaAPIError",
    "VismaAuthError",
    "VismaClient",
    "VismaConfigError",
    "VismaConnectionError",
    "VismaDownloadError",
    "VismaError",
    "VismaFileNameError",
    "VismaFile",
    "VismaQuotaError",
    "VismaRateLimitError",
    "VismaResponseError",
    "VismaTokenAuth",
    "parse_visma_datetime",
    "validate_file_name",
]
