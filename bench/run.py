"""`make bench`: every benchmark in turn."""

from __future__ import annotations

from . import foundation


def main() -> None:
    foundation.main()


if __name__ == "__main__":
    main()
