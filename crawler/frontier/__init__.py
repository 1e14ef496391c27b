"""What is still to fetch and what has been seen: the `Frontier` seam and its backends."""
