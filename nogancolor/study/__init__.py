"""The comparison of the methods: train each on both splits and seeds, evaluate, report."""
