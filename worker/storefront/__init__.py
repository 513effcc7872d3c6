"""The storefront widget's JSON."""
