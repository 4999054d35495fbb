"""Basware Data Access API: client, authentication, response models and errors (no Dagster)."""

from p2p_assets.lib.basware.auth import (
    DEFAULT_SCOPES,
    BaswareOAuth2,
    basware_auth,
    token_url_for,
)
from p2p_assets.lib.basware.client import PRODUCTION_URL, TEST_URL, BaswareClient
from p2p_assets.lib.basware.errors import (
    BaswareAPIError,
    BaswareAuthError,
    BaswareConfigError,
    BaswareConnectionError,
    BaswareDownloadError,
    BaswareDownloadLimitError,
    BaswareError,
    BaswareResponseError,
)
from p2p_assets.lib.basware.models import (
    ColumnDefinition,
    Extract,
    ExtractFile,
    ExtractListing,
    LandedFile,
    TableDefinition,
    extract_order_key,
    in_extract_order,
    parse_basware_datetime,
)

__all__ = [
    "DEFAULT_SCOPES",
    "PRODUCTION_URL",
    "TEST_URL",
    "BaswareAPIError",
    "BaswareAuthError",
    "BaswareClient",
    "BaswareConfigError",
    "BaswareConnectionError",
    "BaswareDownloadError",
    "BaswareDownloadLimitError",
    "BaswareError",
    "BaswareOAuth2",
    "BaswareResponseError",
    "ColumnDefinition",
    "Extract",
    "ExtractFile",
    "ExtractListing",
    "LandedFile",
    "TableDefinition",
    "basware_auth",
    "extract_order_key",
    "in_extract_order",
    "parse_basware_datetime",
    "token_url_for",
]
