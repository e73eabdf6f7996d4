"""Keys, the payload codec (what Temporal stores), and the sealing of accusation material."""
