from aiprime.rag.questions import example_index, question_for, sense_question


def test_question_names_the_inflected_word_as_written():
    question = question_for("We were courting for over ten years", ["court"])
    assert question == 'What does "courting" mean in "We were courting for over ten years"?'


def test_question_finds_the_lemma_the_example_used_not_the_first():
    assert question_for("we are friends of the family", ["acquaintance", "friend"]).startswith(
        'What does "friends"'
    )


def test_question_falls_back_to_the_first_lemma_when_none_is_written():
    assert question_for("they went", ["go", "travel"]) == sense_question("they went", "go")


def test_example_index_reads_the_query_id():
    assert example_index("q:a00001740:3") == 3
