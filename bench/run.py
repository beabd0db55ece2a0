"""`make bench`: every benchmark in turn."""

from __future__ import annotations

from . import dpi_mllp, foundation, validation_profiles


def main() -> None:
    foundation.main()
    validation_profiles.main()
    dpi_mllp.main()


if __name__ == "__main__":
    main()
