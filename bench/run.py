"""`make bench`: every benchmark in turn."""

from __future__ import annotations

from . import foundation, validation_profiles


def main() -> None:
    foundation.main()
    validation_profiles.main()


if __name__ == "__main__":
    main()
