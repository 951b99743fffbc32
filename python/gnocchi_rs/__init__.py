"""gnocchi-rs: a Rust-native core for Gnocchi 4.7.

``gnocchi_rs.carbonara`` is a drop-in for ``gnocchi.carbonara`` whose work
is done by the native extension ``gnocchi_rs._native``.
"""

from gnocchi_rs._native import __version__  # noqa: F401
