"""Database stacks: a server of the stack's engine family beside the product, and the vendor's SQL."""
