"""Every registered model's forward graph as a torch.export program (``export.programs``, what
``--format pt2`` saves): one program per model, run at batch 1 x time 1 and batch 7 x time 17
(ragged where the model takes lengths), equal to the eager model; a recurrent model's program
keeps its time loop as a while_loop. The whole verification grid on every graph (``zoo export
--format pt2``, then ``zoo verify``) is the ``exhaustive`` test below and scripts/export_zoo.py's
pt2 column; the extra graphs' programs are tests/models/test_export_generate.py's."""

import numpy as np
import pytest
import torch

import zoo
from export.bundle import export_bundle
from export.cases import forward_cases, has_time
from export.graphs import graphs_of
from export.programs import export_program, holds_loop
from export.runtimes import program_runner, torch_runner
from export.source import from_registry

NAMES = zoo.list_models()
CASES = ("b1-t1", "b7-t17", "b1", "b7")  # the names forward_cases gives (time only where there is one)


@pytest.mark.parametrize("name", NAMES)
def test_every_models_program_takes_any_batch_and_length(name):
    source = from_registry(name)
    graph = graphs_of(source.spec, source.config)[0]
    program, layers = export_program(source.model, graph)
    assert holds_loop(program) == has_time(graph) == bool(layers), (name, layers)
    template = graph.example(1, 1, torch.Generator().manual_seed(0))
    run = program_runner(program.module(), template, "cpu")
    eager = torch_runner(source.model.eval(), graph, template, torch.float32, "cpu")
    cases = [c for c in forward_cases(graph, source.spec.signature(source.config), stateful=False)
             if c.name.replace("-ragged", "") in CASES]  # fmt: skip
    assert len(cases) == 2
    for case in cases:
        inputs = [t.numpy() for t in case.inputs]
        for got, want in zip(run(inputs), eager(inputs)):
            assert got.dtype == want.dtype and got.shape == want.shape, case.name
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-4, err_msg=f"{name} {case.name}")


@pytest.mark.exhaustive
@pytest.mark.parametrize("name", NAMES)
def test_pt2_bundle_verifies_on_the_whole_grid(name, tmp_path):
    result = export_bundle(from_registry(name), tmp_path / "b", format="pt2")
    assert result.parity.passed, result.parity.failures()[:3]
    spec = zoo.get_spec(name)
    assert {row.graph for row in result.parity.rows if row.runtime == "pt2"} == {g.name for g in graphs_of(spec, spec.make_config())}
