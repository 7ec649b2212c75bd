"""The supply chain: SBOM, licences, the offline vulnerability feed, ABI between releases."""
