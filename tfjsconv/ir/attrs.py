"""Attribute conventions shared by readers, passes and writers."""

from __future__ import annotations

# A Placeholder standing for a TF hash table carries the table's shared name under this attr; the
# graph-model writer turns it into the model.json resource id (readers set it, writers read it).
RESOURCE_KEY_ATTR = "_resource_key"
