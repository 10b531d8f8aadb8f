"""`gemma-jax serve`'s command line without a model: the port it listens on is checked before loading."""

from __future__ import annotations

import argparse
import socket

import pytest

from gemma_jax.cli import main
from gemma_jax.serve.openai.command import add_arguments

MODEL = "tiny:gemma3"


@pytest.fixture
def no_loading(monkeypatch):
    """Loading the model fails the test: every check here must come before it."""
    from gemma_jax.serve.openai import model_source

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the listen address was checked")

    monkeypatch.setattr(model_source, "resolve_model", refuse)
    monkeypatch.delenv("AIP_HTTP_PORT", raising=False)


@pytest.mark.parametrize("port", ["99999", "65536", "-1", "80x"])
def test_a_port_out_of_range_is_refused_by_argparse(port, capsys, no_loading):
    with pytest.raises(SystemExit) as stopped:
        main(["serve", MODEL, "--port", port])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert "argument --port" in error and port in error and "Traceback" not in error


@pytest.mark.parametrize("port", ["0", "1", "65535"])
def test_ports_in_range_are_accepted(port):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args([MODEL, "--port", port]).port == int(port)


def test_a_port_in_use_fails_before_loading_the_model(capsys, no_loading):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", MODEL, "--host", "127.0.0.1", "--port", str(port)]) == 2
    captured = capsys.readouterr()
    assert f"port {port} on 127.0.0.1 is in use; pick another with --port" in captured.err
    assert "Traceback" not in captured.err and "loading" not in captured.err and captured.out == ""


def test_an_address_that_is_not_ours_fails_before_loading_the_model(capsys, no_loading):
    assert main(["serve", MODEL, "--host", "192.0.2.1", "--port", "8000"]) == 2  # TEST-NET-1: no interface has it
    error = capsys.readouterr().err
    assert "cannot listen on port 8000 of 192.0.2.1" in error and "Traceback" not in error


def test_vertex_port_out_of_range_or_in_use_is_refused(capsys, monkeypatch, no_loading):
    monkeypatch.setenv("AIP_HTTP_PORT", "70000")
    assert main(["serve", MODEL]) == 2
    assert "AIP_HTTP_PORT" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("AIP_HTTP_PORT", str(port))
        assert main(["serve", MODEL]) == 2
    assert f"port {port} on 0.0.0.0 is in use; set another AIP_HTTP_PORT" in capsys.readouterr().err


@pytest.mark.parametrize("seconds", ["0", "-1", "nan", "inf"])
def test_a_header_timeout_that_is_not_a_positive_number_is_refused_before_loading(seconds, capsys, no_loading):
    assert main(["serve", MODEL, "--port", "0", "--header-timeout", seconds]) == 2
    error = capsys.readouterr().err
    assert "--header-timeout must be a number of seconds above 0" in error and "Traceback" not in error


def test_default_answer_lengths_are_left_to_each_endpoint_unless_given():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    defaults = parser.parse_args([MODEL])
    assert defaults.default_max_tokens is None and defaults.header_timeout == 20.0
    assert parser.parse_args([MODEL, "--default-max-tokens", "64"]).default_max_tokens == 64


def test_the_help_says_answers_are_greedy_without_a_temperature():
    """OpenAI's and vLLM's default temperature is 1.0; ours is 0 (the model's own answer), and --help says so."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    text = " ".join(parser.format_help().split())
    assert "without `temperature` an answer is greedy" in text and "1.0" in text
