"""The storefront widget: its JSON, its tokens and the session decision."""
