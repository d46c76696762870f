from vec2vec.runtime import configure_env

configure_env()  # before anything imports ray or transformers

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole session: ray.init costs seconds, each Ray Data pipeline more."""
    import ray

    from vec2vec.runtime import init_ray

    init_ray(num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def paraphrase_triples() -> list[tuple[str, str, str]]:
    """(anchor, paraphrase, unrelated): any working sentence encoder puts the paraphrase closer."""
    return [
        ("A man is playing a guitar.", "A person plays an acoustic guitar.", "The stock market fell sharply today."),
        ("The cat sleeps on the sofa.", "A kitten is napping on the couch.", "Interest rates were raised by the bank."),
        ("How do I learn to cook pasta?", "What is the best way to make spaghetti?", "The train to Berlin is late."),
        ("The patient has a high fever.", "The sick person's temperature is elevated.", "He painted the fence blue."),
        (
            "Children are playing football in the park.",
            "Kids kick a ball around on the grass.",
            "The compiler reports a syntax error.",
        ),
    ]
