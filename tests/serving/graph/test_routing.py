"""KServe's routing semantics, checked through a real router in front of a real upstream on loopback."""

from __future__ import annotations

import json
from collections import Counter

import httpx
import pytest

from aiprime.serving.graph import RouterConfig

INPUT = {"instances": [{"text": "a dog runs", "expert": "actions"}]}
FAILED = "Failed to process request"


def post(
    http: httpx.Client, url: str, payload: object = INPUT, path: str = "/", **kwargs: object
) -> httpx.Response:
    return http.post(f"{url}{path}", content=json.dumps(payload), **kwargs)


def test_sequence_passes_response_or_request_as_data_says(http, router, zoo, make_graph) -> None:
    steps = [
        {"name": "a", "serviceUrl": zoo.path("/echo/a")},
        {"name": "b", "serviceUrl": zoo.path("/echo/b"), "data": "$response"},
        {"name": "c", "serviceUrl": zoo.path("/echo/c"), "data": "$request"},
        {"name": "d", "serviceUrl": zoo.path("/echo/d")},  # no data: the node's input
    ]
    url = router(make_graph({"root": {"routerType": "Sequence", "steps": steps}}))
    answer = post(http, url)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"tag": "d", "received": INPUT}
    assert zoo.state.calls == Counter({"/echo/a": 1, "/echo/b": 1, "/echo/c": 1, "/echo/d": 1})


def test_response_flows_into_the_next_step(http, router, zoo, make_graph) -> None:
    steps = [{"serviceUrl": zoo.path("/echo/a")}, {"serviceUrl": zoo.path("/echo/b"), "data": "$response"}]
    url = router(make_graph({"root": {"routerType": "Sequence", "steps": steps}}))
    assert post(http, url).json() == {"tag": "b", "received": {"tag": "a", "received": INPUT}}


def test_sequence_condition_unmet_ends_the_node_with_200(http, router, zoo, make_graph) -> None:
    steps = [
        {"serviceUrl": zoo.path("/status/503")},
        {"serviceUrl": zoo.path("/echo/b"), "condition": "predictions"},  # the 503 body has no predictions
    ]
    url = router(make_graph({"root": {"routerType": "Sequence", "steps": steps}}))
    answer = post(http, url)
    assert (answer.status_code, answer.json()) == (200, {"error": "status 503"})
    assert zoo.state.calls["/echo/b"] == 0


def test_sequence_condition_on_a_non_json_response_fails_with_500(http, router, zoo, make_graph) -> None:
    steps = [{"serviceUrl": zoo.path("/text")}, {"serviceUrl": zoo.path("/echo/b"), "condition": "x"}]
    url = router(make_graph({"root": {"routerType": "Sequence", "steps": steps}}))
    answer = post(http, url)
    assert (answer.status_code, answer.json()) == (500, {"error": FAILED, "cause": "invalid response"})


def test_switch_runs_the_first_matching_step(http, router, zoo, make_graph) -> None:
    steps = [
        {
            "name": "living",
            "serviceUrl": zoo.path("/echo/living"),
            "condition": 'instances.#(expert=="living")',
        },
        {
            "name": "actions",
            "serviceUrl": zoo.path("/echo/actions"),
            "condition": 'instances.#(expert=="actions")',
        },
        {"name": "any", "serviceUrl": zoo.path("/echo/any"), "condition": "instances.#"},
    ]
    url = router(make_graph({"root": {"routerType": "Switch", "steps": steps}}))
    assert post(http, url).json()["tag"] == "actions"
    assert post(http, url, {"instances": [{"expert": "other"}]}).json()["tag"] == "any"


def test_switch_without_a_match_is_404_at_the_root(http, router, zoo, make_graph) -> None:
    steps = [{"serviceUrl": zoo.path("/echo/x"), "condition": 'instances.#(expert=="living")'}]
    url = router(make_graph({"root": {"routerType": "Switch", "steps": steps}}))
    answer = post(http, url)
    assert answer.status_code == 404
    assert answer.json() == {"error": FAILED, "cause": "None of the routes matched with the switch condition"}
    assert post(http, url, "not json").status_code == 404  # an input that is not JSON matches nothing


def test_nested_switch_without_a_match_fails_the_graph_with_500(http, router, zoo, make_graph) -> None:
    nodes = {
        "root": {"routerType": "Sequence", "steps": [{"nodeName": "pick"}]},
        "pick": {"routerType": "Switch", "steps": [{"serviceUrl": zoo.path("/echo/x"), "condition": "nope"}]},
    }
    url = router(make_graph(nodes))
    assert post(http, url).status_code == 500  # KServe's Sequence turns a nested node's error into 500
    assert post(http, url, path="/pick").status_code == 404  # the node itself, served directly


def test_ensemble_keys_by_step_name_or_index(http, router, zoo, make_graph) -> None:
    steps = [{"name": "first", "serviceUrl": zoo.path("/echo/1")}, {"serviceUrl": zoo.path("/echo/2")}]
    url = router(make_graph({"root": {"routerType": "Ensemble", "steps": steps}}))
    answer = post(http, url)
    assert answer.status_code == 200
    assert answer.json() == {"first": {"tag": "1", "received": INPUT}, "1": {"tag": "2", "received": INPUT}}
    assert answer.text.index('"1"') < answer.text.index('"first"')  # keys sorted, as Go marshals a map


def test_ensemble_step_answering_no_json_object_fails_with_500(http, router, zoo, make_graph) -> None:
    steps = [{"serviceUrl": zoo.path("/echo/1")}, {"serviceUrl": zoo.path("/array")}]
    url = router(make_graph({"root": {"routerType": "Ensemble", "steps": steps}}))
    assert post(http, url).status_code == 500


def test_splitter_follows_weights_reproducibly(http, router, zoo, make_graph) -> None:
    steps = [
        {"name": "a", "serviceUrl": zoo.path("/echo/a"), "weight": 20},
        {"name": "b", "serviceUrl": zoo.path("/echo/b"), "weight": 80},
    ]
    document = make_graph({"root": {"routerType": "Splitter", "steps": steps}})
    tags = [[post(http, url, {}).json()["tag"] for _ in range(400)] for url in (
        router(document, config=RouterConfig(seed=7)), router(document, config=RouterConfig(seed=7))
    )]  # fmt: skip
    assert tags[0] == tags[1]  # same seed, same draws
    share = tags[0].count("a") / 400
    assert 0.13 < share < 0.27  # 20 % +- 3.5 standard deviations of a binomial(400, 0.2)


@pytest.mark.parametrize(
    ("dependency", "status", "body", "calls_after"),
    [
        ("Soft", 200, {"tag": "next", "received": {"error": "status 503"}}, 1),
        ("Hard", 503, {"error": "status 503"}, 0),
    ],
)
def test_sequence_soft_failure_continues_hard_failure_stops(
    http, router, zoo, make_graph, dependency: str, status: int, body: dict, calls_after: int
) -> None:
    steps = [
        {"serviceUrl": zoo.path("/status/503"), "dependency": dependency},
        {"serviceUrl": zoo.path("/echo/next"), "data": "$response"},
    ]
    url = router(make_graph({"root": {"routerType": "Sequence", "steps": steps}}))
    answer = post(http, url)
    assert (answer.status_code, answer.json()) == (status, body)
    assert zoo.state.calls["/echo/next"] == calls_after


def test_sequence_answers_the_last_steps_status_even_when_soft(http, router, zoo, make_graph) -> None:
    steps = [
        {"serviceUrl": zoo.path("/echo/a")},
        {"serviceUrl": zoo.path("/status/502"), "dependency": "Soft"},
    ]
    url = router(make_graph({"root": {"routerType": "Sequence", "steps": steps}}))
    assert post(http, url).status_code == 502


@pytest.mark.parametrize(("dependency", "status"), [("Soft", 200), ("Hard", 503)])
def test_ensemble_soft_failure_is_kept_hard_failure_decides(
    http, router, zoo, make_graph, dependency: str, status: int
) -> None:
    steps = [
        {"name": "ok", "serviceUrl": zoo.path("/echo/ok")},
        {"name": "down", "serviceUrl": zoo.path("/status/503"), "dependency": dependency},
    ]
    url = router(make_graph({"root": {"routerType": "Ensemble", "steps": steps}}))
    answer = post(http, url)
    assert answer.status_code == status
    expected = {"ok": {"tag": "ok", "received": INPUT}, "down": {"error": "status 503"}}
    assert answer.json() == (expected if dependency == "Soft" else {"error": "status 503"})


def test_transport_error_fails_the_graph_even_when_soft(http, router, zoo, make_graph, closed_port) -> None:
    steps = [
        {"serviceUrl": f"http://127.0.0.1:{closed_port}/v1/models/x:predict", "dependency": "Soft"},
        {"serviceUrl": zoo.path("/echo/next")},
    ]
    url = router(make_graph({"root": {"routerType": "Sequence", "steps": steps}}))
    answer = post(http, url)
    assert answer.status_code == 500 and answer.json()["error"] == FAILED
    assert zoo.state.calls["/echo/next"] == 0


def test_unreachable_service_name_answers_503_like_a_gateway(
    http, router, zoo, make_graph, closed_port
) -> None:
    steps = [
        {"serviceName": "down", "dependency": "Soft"},
        {"serviceUrl": zoo.path("/echo/next"), "data": "$response"},
    ]
    document = make_graph({"root": {"routerType": "Sequence", "steps": steps}})
    services = {"down": f"http://127.0.0.1:{closed_port}/v1/models/down:predict"}
    answer = post(http, router(document, services))
    assert answer.status_code == 200
    assert answer.json()["received"]["error"] == "Service Unavailable"
    strict = router(document, services, RouterConfig(unreachable_as_503=False))
    assert post(http, strict).status_code == 500  # KServe's own behaviour for a refused connection


def test_step_timeout_fails_the_graph_with_500(http, router, zoo, make_graph) -> None:
    steps = [{"serviceUrl": zoo.path("/slow/1000")}]
    url = router(
        make_graph({"root": {"routerType": "Sequence", "steps": steps}}),
        config=RouterConfig(step_timeout_s=0.2),
    )
    answer = post(http, url)
    assert answer.status_code == 500 and "timeout" in answer.json()["cause"]


def test_graph_routertimeouts_serviceclient_limits_each_step(http, router, zoo, make_graph) -> None:
    steps = [{"serviceUrl": zoo.path("/slow/1300")}]
    document = make_graph(
        {"root": {"routerType": "Sequence", "steps": steps}}, routerTimeouts={"serviceClient": 1}
    )
    answer = post(http, router(document))
    assert answer.status_code == 500 and "timeout" in answer.json()["cause"]


def test_graph_deadline_answers_504(http, router, zoo, make_graph) -> None:
    steps = [{"serviceUrl": zoo.path("/slow/200")}, {"serviceUrl": zoo.path("/slow/200")}]
    url = router(
        make_graph({"root": {"routerType": "Sequence", "steps": steps}}),
        config=RouterConfig(graph_timeout_s=0.3),
    )
    answer = post(http, url)
    assert answer.status_code == 504 and answer.json()["error"] == FAILED


def test_headers_matching_patterns_are_propagated(http, router, zoo, make_graph) -> None:
    document = make_graph(
        {"root": {"routerType": "Sequence", "steps": [{"serviceUrl": zoo.path("/echo/h")}]}}
    )
    url = router(document, config=RouterConfig(propagate_headers=("X-Request-Id", "^Auth")))
    post(http, url, headers={"x-request-id": "r-1", "authorization": "Bearer t", "x-other": "no"})
    seen = zoo.state.headers["/echo/h"]
    assert seen["x-request-id"] == "r-1" and seen["authorization"] == "Bearer t"
    assert "x-other" not in seen
    assert seen["content-type"] == "application/json"


def test_no_header_is_propagated_by_default(http, router, zoo, make_graph) -> None:
    document = make_graph(
        {"root": {"routerType": "Sequence", "steps": [{"serviceUrl": zoo.path("/echo/h")}]}}
    )
    post(http, router(document), headers={"authorization": "Bearer t"})
    assert "authorization" not in zoo.state.headers["/echo/h"]


def test_map_predictions_to_instances(http, router, zoo, make_graph) -> None:
    steps = [{"serviceUrl": zoo.path("/echo/m"), "mapPredictionsToInstances": True}]
    url = router(make_graph({"root": {"routerType": "Sequence", "steps": steps}}))
    assert post(http, url, {"predictions": [1, 2], "id": "r"}).json()["received"] == {
        "id": "r",
        "instances": [1, 2],
    }


def test_a_node_can_be_served_directly_and_unknown_nodes_are_404(http, router, zoo, make_graph) -> None:
    nodes = {
        "root": {"routerType": "Sequence", "steps": [{"nodeName": "branch"}]},
        "branch": {"routerType": "Sequence", "steps": [{"serviceUrl": zoo.path("/echo/branch")}]},
    }
    url = router(make_graph(nodes))
    assert post(http, url, path="/branch").json()["tag"] == "branch"
    answer = post(http, url, path="/nope")
    assert answer.status_code == 404 and "branch" in answer.json()["cause"]
    assert http.get(f"{url}/healthz").status_code == 200


def test_non_json_success_is_passed_through_as_text(http, router, zoo, make_graph) -> None:
    url = router(
        make_graph({"root": {"routerType": "Sequence", "steps": [{"serviceUrl": zoo.path("/text")}]}})
    )
    answer = post(http, url)
    assert (answer.status_code, answer.text) == (200, "not json")
    assert answer.headers["content-type"].startswith("text/plain")
