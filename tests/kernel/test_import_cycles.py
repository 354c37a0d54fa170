"""No module imports itself through others, in any package (TYPE_CHECKING imports count).

import-linter's layers say which packages may import which; this says that inside a
package, too, the imports form no circle (as once simulators/camera → fleet → sensors →
camera and video/counting ↔ video/dnn did).
"""

from __future__ import annotations

import grimp

PACKAGES = ("sharpeyes", "kernel", "contracts", "store", "grid", "ingest", "alerts", "api",
            "video", "simulators")


def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph(*PACKAGES)
    assert len(graph.modules) > 150  # the graph holds the project at all
    circles = sorted(
        (module, imported)
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.chain_exists(importer=imported, imported=module))
    assert circles == []
