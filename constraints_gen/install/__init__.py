"""Install: the wheelhouse, the index client, fill, targets, sync, and verify."""
