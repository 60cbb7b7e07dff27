"""JUnit XML for CI systems: one ``<testcase>`` per eval case, failures with their reasons."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from voice_agent_cli.errors import UsageError
from voice_agent_cli.evals.results import EvalReport


def junit_xml(report: EvalReport) -> str:
    """The report as a JUnit XML document (the shape pytest and most CI systems read)."""
    ran = report.ran
    suite = ET.Element(
        "testsuite",
        {
            "name": "va eval",
            "tests": str(len(report.results)),
            "failures": str(len(ran) - report.passed),
            "errors": "0",
            "skipped": str(len(report.results) - len(ran)),
            "time": f"{report.seconds:.3f}",
        },
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", {"name": "llm", "value": report.llm})
    ET.SubElement(properties, "property", {"name": "profile", "value": report.profile})
    for result in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"evals.{result.case.file.stem}",
                "name": result.case.name,
                "time": f"{result.seconds:.3f}",
            },
        )
        if result.skipped is not None:
            ET.SubElement(case, "skipped", {"message": result.skipped})
            continue
        if not result.passed:
            failures = result.failures
            failure = ET.SubElement(case, "failure", {"message": failures[0] if failures else ""})
            failure.text = "\n".join(failures)
        transcript = [
            f"user: {turn.outcome.says}\nva ({turn.outcome.source}, {turn.outcome.llm}): "
            f"{turn.outcome.reply}"
            for turn in result.turns
        ]
        ET.SubElement(case, "system-out").text = "\n".join(transcript)
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(report: EvalReport, path: Path) -> None:
    """Write :func:`junit_xml` to ``path`` (a bad path is a usage error)."""
    try:
        path.write_text(junit_xml(report), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
