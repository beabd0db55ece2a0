"""`make bench`: every benchmark in turn."""

from __future__ import annotations

from . import (
    auth,
    dpi_mllp,
    foundation,
    mssante_bench,
    pathway,
    search,
    subscriptions,
    telemonitoring,
    validation_profiles,
)


def main() -> None:
    foundation.main([])
    search.main()
    validation_profiles.main()
    dpi_mllp.main()
    mssante_bench.main()
    telemonitoring.main([])
    pathway.main([])
    subscriptions.main([])
    auth.main(["--scale", "1.0"])  # the search benchmark's data set, which the target refers to


if __name__ == "__main__":
    main()
