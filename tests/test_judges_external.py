"""The `command:PROGRAM` and `nli` judges (issue 14 point 2): real processes, a real (tiny) ONNX model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace

from cli_support import run_cli as run
from goldkeeper.errors import EvalError
from goldkeeper.evals.judges import CommandJudge, NliJudge, make_judge
from test_grounded_e2e import make_project, oracle_responses, squad_slice  # noqa: F401 - fixture

JUDGE_PROGRAM = """
import json, sys, time
mode = sys.argv[1]
with open(sys.argv[2], "a") as log:
    log.write("run\\n")
lines = [json.loads(line) for line in sys.stdin]
if mode == "sleep":
    time.sleep(30)
if mode == "fail":
    sys.stderr.write("model not loaded\\n")
    sys.exit(3)
for pair in reversed(lines):  # any order
    if mode == "drop" and pair["id"] == 1:
        continue
    score = 1.0 if pair["claim"] in pair["evidence"] else 0.1
    out = {"id": pair["id"], "score": 2.0 if mode == "badscore" else score}
    if mode == "boolid" and pair["id"] == 1:  # JSON true, which Python calls 1
        out["id"] = True
    if "not" in pair["claim"]:
        out.update(score=0.9, label="contradicted", reason="negation")
    if mode == "labelled":  # an LLM judge that says "supported" whatever its score
        out["label"] = "supported"
    print(json.dumps(out))
    if mode == "twice" and pair["id"] == 2:  # a retry that printed its second opinion too
        print(json.dumps({**out, "score": 0.0}))
if mode == "stray":  # a verdict on a pair it was not given (its own numbering, a cached answer)
    print(json.dumps({"id": 99, "score": 0.0}))
"""


@pytest.fixture
def program(tmp_path: Path) -> tuple[Path, Path]:
    script = tmp_path / "judge.py"
    script.write_text(JUDGE_PROGRAM, encoding="utf-8")
    return script, tmp_path / "runs.log"


def command(program: tuple[Path, Path], mode: str, **options) -> CommandJudge:
    script, log = program
    judge = make_judge(f"command:{sys.executable} {script} {mode} {log}", cwd=script.parent, **options)
    assert isinstance(judge, CommandJudge)
    return judge


PAIRS = [
    ("Rollo", "Rollo ruled Normandy."),
    ("Paris", "Rollo ruled Normandy."),
    ("Rollo did not rule", "Rollo ruled Normandy."),
    ("Normandy", "Rollo ruled Normandy."),
    ("ruled", "Rollo ruled Normandy."),
]


def test_a_supported_label_under_the_threshold_is_not_reported_as_supported(program) -> None:
    """The decision needs both (score >= threshold and label supported); the label written with a verdict
    the decision refused must not say "supported" (per-case results would contradict themselves)."""
    verdicts = command(program, "labelled", batch_size=5).judge_many(PAIRS)
    assert [v.supported for v in verdicts] == [True, False, True, True, True]
    assert [v.label for v in verdicts] == ["supported", "not_enough_info", "supported", "supported", "supported"]
    assert verdicts[1].score == pytest.approx(0.1)


def test_command_judge_batches_pairs_and_reads_verdicts(program) -> None:
    judge = command(program, "ok", batch_size=2)
    verdicts = judge.judge_many(PAIRS)
    assert program[1].read_text().count("run") == 3  # 5 pairs in batches of 2
    assert [v.supported for v in verdicts] == [True, False, False, True, True]
    assert [v.label for v in verdicts] == ["supported", "not_enough_info", "contradicted", "supported", "supported"]
    assert verdicts[2].reason == "negation" and verdicts[1].score == pytest.approx(0.1)
    assert judge.identity.startswith("command:") and judge.identity.endswith("@0.5")


@pytest.mark.parametrize(
    ("mode", "options", "message"),
    [
        ("sleep", {"timeout_s": 0.5}, "timed out after 0.5 s on pairs 0-4"),
        ("fail", {}, "exited with status 3 on pairs 0-4: model not loaded"),
        ("drop", {}, "no verdict for pair id 1"),
        ("badscore", {}, "score must be a number in [0, 1]"),
        ("twice", {}, "output line 4 of pairs 0-4: a second verdict for pair id 2"),
        ("stray", {}, "output line 6 of pairs 0-4: pair id 99 is not one of this batch"),
        ("boolid", {}, "output line 4 of pairs 0-4: expected an object with an integer id"),
    ],
)
def test_command_judge_errors_name_the_program(program, mode, options, message) -> None:
    judge = command(program, mode, **options)
    with pytest.raises(EvalError) as caught:
        judge.judge_many(PAIRS)
    assert str(caught.value).startswith(f"judge command:{sys.executable}") and message in str(caught.value)


def test_command_judge_that_cannot_start(tmp_path: Path) -> None:
    judge = make_judge("command:/nonexistent/judge --fast", cwd=tmp_path)
    with pytest.raises(EvalError, match="judge command:/nonexistent/judge --fast: cannot run '/nonexistent/judge'"):
        judge.judge("a", "b")
    with pytest.raises(ValueError, match="cannot parse"):
        make_judge("command:'unclosed", cwd=tmp_path)


# ------------------------------------------------------------------ nli: a tiny cross-encoder built here

VOCAB = {"[PAD]": 0, "[UNK]": 1, "no": 2, "rollo": 3, "normandy": 4, "yes": 5}


def build_model(folder: Path, *, with_config: bool = True) -> Path:
    """logits = max(input_ids) * [1, 0, -1] + [-3, 0, 3]: 'yes' (5) entails, without it contradiction wins."""
    folder.mkdir(parents=True, exist_ok=True)
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["ids_f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMax", ["ids_f"], ["top"], axes=[1], keepdims=1),
        helper.make_node("MatMul", ["top", "w"], ["scaled"]),
        helper.make_node("Add", ["scaled", "b"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny-nli",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        initializer=[
            helper.make_tensor("w", TensorProto.FLOAT, [1, 3], [1.0, 0.0, -1.0]),
            helper.make_tensor("b", TensorProto.FLOAT, [3], [-3.0, 0.0, 3.0]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, folder / "model.onnx")
    tokenizer = Tokenizer(WordLevel(VOCAB, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.save(str(folder / "tokenizer.json"))
    if with_config:
        labels = {"0": "ENTAILMENT", "1": "NEUTRAL", "2": "CONTRADICTION"}
        (folder / "config.json").write_text(json.dumps({"id2label": labels}), encoding="utf-8")
    return folder


def test_nli_judge_scores_batches_with_padding(tmp_path: Path) -> None:
    judge = make_judge("nli", model_path=build_model(tmp_path / "tiny-nli"), batch_size=2)
    assert isinstance(judge, NliJudge)
    verdicts = judge.judge_many(
        [
            ("yes", "rollo normandy"),  # max id 5: logits [2, 0, -2] -> entailment
            ("rollo", "normandy normandy normandy no"),  # max 4: [1, 0, -1] -> entailment 0.665
            ("no", "rollo"),  # max 3: [0, 0, 0] -> 1/3 each, entailment (first) on top
            ("no", "no"),  # max 2: [-1, 0, 1] -> contradiction
            ("yes", "no"),
        ]
    )
    assert [v.label for v in verdicts] == ["supported", "supported", "not_enough_info", "contradicted", "supported"]
    assert verdicts[0].score == pytest.approx(0.8668, abs=1e-4)  # e^2 / (e^2 + 1 + e^-2)
    assert verdicts[2].score == pytest.approx(1 / 3, abs=1e-6)
    assert judge.identity.startswith("nli:tiny-nli@sha256:") and judge.identity.endswith("@0.5")
    assert verdicts == judge.judge_many([("yes", "rollo normandy"), ("rollo", "normandy normandy normandy no")]) + [
        judge.judge("no", "rollo"),
        judge.judge("no", "no"),
        judge.judge("yes", "no"),
    ]


def test_nli_judge_loading_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not a directory"):
        make_judge("nli", model_path=tmp_path / "missing")
    with pytest.raises(ValueError, match="judge_model_path"):
        make_judge("nli")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="has no model.onnx"):
        make_judge("nli", model_path=empty)
    folder = build_model(tmp_path / "broken")
    (folder / "model.onnx").write_bytes(b"not an onnx file")
    with pytest.raises(ValueError, match="cannot load the model"):
        make_judge("nli", model_path=folder)


def test_nli_judge_without_config_uses_index_zero(tmp_path: Path) -> None:
    judge = make_judge("nli", 0.3, model_path=build_model(tmp_path / "m", with_config=False))
    verdict = judge.judge("no", "no")  # entailment prob e^-1 / (e^-1 + 1 + e) = 0.090 < 0.3, no contradiction label
    assert verdict.label == "not_enough_info" and verdict.score == pytest.approx(0.0900, abs=1e-4)


# ------------------------------------------------------------------ through `eval grounded`


def test_eval_grounded_uses_the_command_judge_of_params(project: Path, squad_slice, program, capsys) -> None:  # noqa: F811
    make_project(project, squad_slice)
    script, log = program
    params = (project / "params.yaml").read_text()
    judge_lines = f"  judge: 'command:{sys.executable} {script} ok {log}'\n  judge_batch_size: 7\n"
    (project / "params.yaml").write_text(params.replace("grounded:\n", "grounded:\n" + judge_lines))
    lines = oracle_responses(squad_slice)
    (project / "answers.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    code, out, err = run(["eval", "grounded", "--answerer", "responses:answers.jsonl", "--json"], capsys)
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["judge"] == f"command:{sys.executable} {script} ok {log}@0.5"
    answered = [x for x in lines if not x["refused"]]
    chunks = {str(c.id): c.content for c in squad_slice[0].chunks}
    claim_pairs = {(x["claims"][0]["text"], chunks[x["claims"][0]["citations"][0]["chunk_id"]]) for x in answered}
    statement_pairs = {(x["answer"], x["claims"][0]["text"]) for x in answered}  # each answer is one statement
    assert log.read_text().count("run") == -(-len(claim_pairs | statement_pairs) // 7)  # distinct pairs, batches of 7
    # this judge supports a claim only when it is a substring of the evidence: every oracle claim is
    assert metrics["faithfulness"] == pytest.approx(1.0)


def test_eval_grounded_stops_on_a_failing_command_judge(project: Path, squad_slice, program, capsys) -> None:  # noqa: F811
    make_project(project, squad_slice)
    script, log = program
    params = (project / "params.yaml").read_text()
    (project / "params.yaml").write_text(
        params.replace("grounded:\n", f"grounded:\n  judge: 'command:{sys.executable} {script} fail {log}'\n")
    )
    lines = oracle_responses(squad_slice)
    (project / "answers.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    code, _, err = run(["eval", "grounded", "--answerer", "responses:answers.jsonl"], capsys)
    assert code == 6
    assert err.strip().splitlines()[-1].startswith(f"error: judge command:{sys.executable} {script} fail")
    assert "model not loaded" in err and "Traceback" not in err


def test_eval_grounded_help_names_the_configured_judge(capsys: pytest.CaptureFixture[str]) -> None:
    """The help said "judged by the offline lexical judge" long after the default became aligned."""
    code, out, _ = run(["eval", "grounded", "--help"], capsys)
    flat = " ".join(out.split())
    assert code == 0 and "lexical judge" not in flat
    assert "judged by params.yaml grounded.judge (default aligned; lexical, nli or command:PROGRAM)" in flat
