# lm-eval's own answer filters and exact_match on given strings. Input (stdin):
# {"regex": [[text, pattern, group_select], ...], "exact_match": [[prediction, reference,
# {"ignore_case": b, "ignore_punctuation": b, "regexes_to_ignore": [...]}], ...]}.
# Output (stdout): {"regex": [answer, ...], "exact_match": [0 or 1, ...]}.
import json
import sys

from lm_eval.api.metrics import exact_match_hf_evaluate
from lm_eval.filters.extraction import RegexFilter

job = json.load(sys.stdin)
regex = [
    RegexFilter(regex_pattern=pattern, group_select=group).apply([[text]], [None])[0][0]
    for text, pattern, group in job["regex"]
]
exact = [
    int(exact_match_hf_evaluate([prediction], [reference], **options)["exact_match"])
    for prediction, reference, options in job["exact_match"]
]
print(json.dumps({"regex": regex, "exact_match": exact}))
