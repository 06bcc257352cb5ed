"""``CircuitLayout``: the files of one ``interp circuit`` result (the one owner of their names).

    OUT/  circuit.json        the config, the metric values, faithfulness (curve, CPR, CMD), the circuit's edges
          graph.json          the graph's shape, how it was scored, the circuit's edge names (``Graph.load(OUT)``)
          graph.safetensors   every edge's score and the circuit mask
          report.html         the circuit diagram, the faithfulness curve, the top edges
"""

from __future__ import annotations

from interp.layout import Layout


class CircuitLayout(Layout):
    circuit = property(lambda self: self.root / "circuit.json")
    graph = property(lambda self: self.root / "graph.json")
    report = property(lambda self: self.root / "report.html")
