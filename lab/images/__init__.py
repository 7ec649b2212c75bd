"""Target images built from Debian's archive, since this lab has no registry to pull from."""
