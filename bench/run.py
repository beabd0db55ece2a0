"""`make bench`: every benchmark in turn."""

from __future__ import annotations

from . import dpi_mllp, foundation, mssante_bench, pathway, subscriptions, telemonitoring, validation_profiles


def main() -> None:
    foundation.main([])
    validation_profiles.main()
    dpi_mllp.main()
    mssante_bench.main()
    telemonitoring.main([])
    pathway.main([])
    subscriptions.main([])


if __name__ == "__main__":
    main()
