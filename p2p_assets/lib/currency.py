"""ISO 4217: the active alphabetic currency codes, and how many decimals each one's minor unit has.

Vendors that take amounts in minor units (Boss Insights: cents) need the exponent: 12.34 EUR is
1234, 1234 JPY is 1234, and 1.234 KWD is 1234.
"""

from decimal import Decimal

ISO_4217 = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL
    GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW
    KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN
    NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK
    SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS
    VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL""".split()
)
# Exponents other than 2 (ISO 4217's list of minor units).
_EXPONENTS = {
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
}


def minor_unit_exponent(code: str) -> int:
    if code not in ISO_4217:
        raise ValueError(f"currency {code!r} is not an ISO 4217 code")
    return _EXPONENTS.get(code, 2)


def to_minor_units(amount: Decimal, code: str) -> int:
    """`amount` in `code`'s minor unit, exactly; ValueError when it has more decimals than that."""
    scaled = amount.scaleb(minor_unit_exponent(code))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more decimals than {code} allows")
    return int(scaled)
