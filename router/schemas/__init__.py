"""marshmallow schemas, one module per API resource."""
