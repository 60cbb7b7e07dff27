"""Complexity routing, parallel expert consultation, synthesis, validation, investigation."""

from __future__ import annotations

import pytest

from voice_agent_cli.contracts.events import Notice, TurnCompleted
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.core.experts import ExpertAdvisor, ExpertPanel
from voice_agent_cli.core.router import ComplexityRouter
from voice_agent_cli.core.settings import ExpertSettings, ExpertsSettings, RateLimitSettings
from voice_agent_cli.errors import LLMServerError
from voice_agent_cli.llm.base import LLMRequest
from voice_agent_cli.ratelimit import RateLimits
from voice_agent_cli.resilience import BreakerPolicy, BreakerState, CircuitBreakers
from voice_agent_cli.testing import FakeLLM


def advisor_settings(name: str, keywords: list[str], timeout_s: float = 1.0) -> ExpertSettings:
    return ExpertSettings(
        name=name, keywords=keywords, system_prompt=f"You are {name}.", timeout_s=timeout_s
    )


SETTINGS = ExpertsSettings(
    enabled=True,
    advisors=[
        advisor_settings("Technical", ["database", "latency", "server"]),
        advisor_settings("Business", ["cost", "budget", "market"]),
        advisor_settings("Research", ["study", "evidence"]),
    ],
)


def says(name: str) -> FakeLLM:
    return FakeLLM(responder=lambda request: f"{name} thinks so.", model=name.lower())


def panel(settings: ExpertsSettings = SETTINGS, **llms: FakeLLM) -> ExpertPanel:
    return ExpertPanel(
        settings,
        [ExpertAdvisor(a, llms.get(a.name, says(a.name))) for a in settings.advisors],
    )


# --- routing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    ["hello there", "what is the capital of France?", "tell me a joke", "how is the server?"],
)
async def test_simple_questions_go_straight_to_the_llm(question: str) -> None:
    assert (await ComplexityRouter(SETTINGS).route(question)).kind == "simple"


async def test_an_explicit_request_goes_to_every_expert() -> None:
    route = await ComplexityRouter(SETTINGS).route("Ask the experts: is this a good idea?")
    assert route.kind == "experts"
    assert route.experts == ("Technical", "Business", "Research")
    assert "asked for the experts" in route.reasons


async def test_domain_and_analysis_route_to_the_matching_experts() -> None:
    route = await ComplexityRouter(SETTINGS).route(
        "Should we move the database to a bigger server, given the cost?"
    )
    assert route.kind == "experts"
    assert route.experts == ("Technical", "Business")  # most keyword hits first


async def test_long_multi_part_questions_are_complex() -> None:
    question = (
        "What would happen to our team if we changed how we plan our week, and also what "
        "would the first month look like? And then how would we know it worked at all?"
    )
    route = await ComplexityRouter(SETTINGS).route(question)
    assert route.kind == "experts"
    assert {"long question", "several parts"} <= set(route.reasons)


async def test_investigation_words_select_the_investigation_mode() -> None:
    route = await ComplexityRouter(SETTINGS).route(
        "Investigate the evidence: does a study show the cost of latency?"
    )
    assert route.mode == "investigate"


async def test_a_borderline_question_can_be_classified_by_the_llm() -> None:
    settings = SETTINGS.model_copy(update={"classify_with_llm": True})
    classifier = FakeLLM(["COMPLEX"])
    route = await ComplexityRouter(settings, classifier).route("compare two things")
    assert route.kind == "experts"
    assert "the LLM judged it complex" in route.reasons


async def test_routing_is_off_when_experts_are_disabled() -> None:
    off = SETTINGS.model_copy(update={"enabled": False})
    assert (await ComplexityRouter(off).route("Ask the experts now")).kind == "simple"


# --- consultation ----------------------------------------------------------------------


async def test_experts_are_consulted_in_parallel_with_their_own_timeouts() -> None:
    slow = FakeLLM(responder=lambda r: "too late", latency_s=5.0)
    opinions = await panel(Business=slow).consult(["Technical", "Business"], "q?", [])
    by_name = {o.name: o for o in opinions}
    assert by_name["Technical"].ok and by_name["Technical"].text == "Technical thinks so."
    assert not by_name["Business"].ok
    assert by_name["Business"].error == "timed out after 1 s"
    assert by_name["Business"].duration_ms < 4000  # cut at its timeout, not at 5 s


async def test_each_expert_gets_its_own_system_prompt() -> None:
    technical = says("Technical")
    await panel(Technical=technical).consult(["Technical"], "q?", [])
    assert technical.requests[0].system == "You are Technical."


async def test_a_failing_expert_opens_its_breaker() -> None:
    breakers = CircuitBreakers()
    failing = FakeLLM([LLMServerError("500")] * 10)
    advisor = ExpertAdvisor(
        SETTINGS.advisors[0],
        failing,
        breaker=breakers.get("expert:Technical", BreakerPolicy(2, 60)),
    )
    for _ in range(3):
        opinion = await advisor.ask([])
        assert not opinion.ok
    assert advisor.breaker is not None and advisor.breaker.state is BreakerState.OPEN
    assert "circuit open" in (opinion.error or "")
    assert len(failing.requests) == 2  # the third was refused without a call


async def test_investigation_follows_up_within_its_depth() -> None:
    settings = SETTINGS.model_copy(update={"investigation_depth": 2})
    lead = FakeLLM(["First finding.", "A missed point.", "Another point.", "never asked"])
    opinions = await panel(settings, Research=lead).investigate(["Research"], "why?", [])
    assert [o.name for o in opinions] == [
        "Research",
        "Research (follow-up 1)",
        "Research (follow-up 2)",
    ]
    assert len(lead.requests) == 3


async def test_investigation_stops_when_the_lead_is_done() -> None:
    lead = FakeLLM(["Finding.", "DONE"])
    opinions = await panel(Research=lead).investigate(["Research"], "why?", [])
    assert [o.name for o in opinions] == ["Research"]


async def test_validation_returns_a_correction_or_approves() -> None:
    corrected = await panel(Technical=FakeLLM(["The answer is 42."])).validate("q", "41")
    assert corrected is not None and corrected.text == "The answer is 42."
    approved = await panel(Technical=FakeLLM(["APPROVED"])).validate("q", "42")
    assert approved is None


# --- through the agent -----------------------------------------------------------------


def expert_agent(main: FakeLLM, settings: ExpertsSettings = SETTINGS, **llms: FakeLLM) -> Agent:
    return Agent(
        main,
        AgentOptions(system_prompt="Main prompt."),
        router=ComplexityRouter(settings),
        experts=panel(settings, **llms),
    )


async def test_the_agent_synthesises_the_experts_notes_into_one_reply() -> None:
    main = FakeLLM(["Here is the combined view."])
    agent = expert_agent(main)
    done = await agent.reply("Ask the experts: what about the database cost?")
    assert done.source == "experts"
    assert done.reply == "Here is the combined view."
    assert {e["name"] for e in done.details["experts"]} == {"Technical", "Business"}
    assert all(e["ok"] for e in done.details["experts"])
    assert "expert_time" in done.timings
    synthesis: LLMRequest = main.requests[-1]
    assert "Technical: Technical thinks so." in synthesis.system
    assert synthesis.system.startswith("Main prompt.")


async def test_an_expert_that_times_out_is_left_out_of_the_synthesis() -> None:
    main = FakeLLM(["Combined."])
    agent = expert_agent(main, Business=FakeLLM(latency_s=5.0))
    done = await agent.reply("Ask the experts: database cost?")
    assert done.source == "experts"
    failed = [e for e in done.details["experts"] if not e["ok"]]
    assert [e["name"] for e in failed] == ["Business"]
    assert "Business" not in main.requests[-1].system


async def test_when_every_expert_fails_the_llm_answers_directly() -> None:
    main = FakeLLM(["Direct answer."])
    agent = expert_agent(
        main,
        Technical=FakeLLM([LLMServerError("500")]),
        Business=FakeLLM([LLMServerError("500")]),
    )
    events = [e async for e in agent.run_turn("Ask the experts: database cost?")]
    done = events[-1]
    assert isinstance(done, TurnCompleted)
    assert done.source == "llm"
    assert done.reply == "Direct answer."
    assert main.requests[-1].system == "Main prompt."
    assert any(isinstance(e, Notice) and "did not answer" in e.message for e in events)


async def test_validation_through_the_agent_says_the_corrected_answer() -> None:
    settings = SETTINGS.model_copy(update={"validation": True, "validator": "Research"})
    main = FakeLLM(["Draft answer."])
    agent = expert_agent(main, settings, Research=FakeLLM(["Opinion.", "Corrected answer."]))
    done = await agent.reply("Ask the experts: study the evidence?")
    assert done.reply == "Corrected answer."
    assert done.details["validated_by"] == "Research"
    assert "validation" in done.timings


async def test_expert_consultations_are_rate_limited() -> None:
    main = FakeLLM()
    agent = Agent(
        main,
        AgentOptions(system_prompt="s"),
        router=ComplexityRouter(SETTINGS),
        experts=panel(),
        limits=RateLimits(RateLimitSettings(expert_consultations="1/minute")),
    )
    assert (await agent.reply("Ask the experts: database?")).source == "experts"
    events = [e async for e in agent.run_turn("Ask the experts: database again?")]
    assert events[-1].source == "llm"  # type: ignore[union-attr]
    assert any(isinstance(e, Notice) and "limit reached" in e.message for e in events)
