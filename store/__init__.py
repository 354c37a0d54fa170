"""The store: schema migrations, connections and time-series queries shared by every stage."""
