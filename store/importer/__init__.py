"""Bulk import of a real city from CSV and GeoJSON files (docs/import-format.md).

The package owns the integrators' import format and loading it into the store:

- ``model``    row errors, parsed rows, :class:`Bundle`, :class:`ImportReport`
- ``reading``  bytes to located values: encoding, CSV lines, typed cells, GeoJSON lines
- ``geometry`` grid polygons: validation, bounding boxes, point-in-polygon
- ``rows``     what one row may hold: identifiers, choices, ranges, coordinates, JSON
- ``parse``    the files: names, headers, GeoJSON features, duplicates → ``load_bundle``
- ``snapshot`` what the database already holds of the keys an import names
- ``resolve``  references, region levels, grids from points, the upsert plan → ``validate``
- ``load``     hashing and writing in one transaction → ``import_bundle``

Nothing is written unless every row of every file is valid.
"""

from store.importer.load import import_bundle, validate
from store.importer.model import Bundle, ImportReport, RowError, TableCount
from store.importer.parse import SPECS, FileSpec, load_bundle

__all__ = [
    "SPECS", "Bundle", "FileSpec", "ImportReport", "RowError", "TableCount", "import_bundle",
    "load_bundle", "validate",
]
