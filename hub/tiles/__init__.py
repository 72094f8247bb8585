"""Homepage tiles: tile config, refresh scheduling, the tile API and the embeddable widget (docs/tiles.md)."""
