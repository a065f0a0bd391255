"""Store: the schema and its migrations (`schema`), the one way rows are written (`documents.save`), bulk loading
(`bulk`), registry versions (`history`) and article naming (`identity`). Nothing here harvests or derives."""
