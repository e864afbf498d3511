"""The retrieval task's questions: a reader asks what a word means in a sentence.

The data's queries are WordNet example sentences with the synset's lemmas masked (`___`), made for the gate.
For retrieval that is a riddle: "___ loyalty" must find "perfect or complete or pure". A user of a dictionary
assistant instead names the word and shows where it appeared: `What does "courting" mean in "We were courting
for over ten years"?` The relevant document is the synset whose sense the sentence uses, so the other senses
of the same word are the hard negatives. The sentence and the word are the example as WordNet prints it
(`processed/synsets.parquet`), found again from the query id `q:<synset_id>:<example index>`.

The functions live in `aiprime.data.questions`, where the gate's training data builds the same questions.
"""

from aiprime.data.questions import example_index, question_for, questions_of, sense_question

__all__ = ["example_index", "question_for", "questions_of", "sense_question"]
