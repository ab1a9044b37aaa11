"""IAM policy language: parsing, IAM's validation, and AWS's evaluation logic.

No maintained Python library evaluates IAM policies (policyuniverse and
parliament parse and lint; none evaluates conditions or the cross-account
rule), so this package implements the documented algorithm; the tests in
tests/services/iam/test_policy_*.py hold it to AWS's documented examples.
"""

from services.iam.policy.document import MalformedPolicy, Policy, parse, parse_doc, validate
from services.iam.policy.evaluate import ALLOWED, Caller, Context, Decision, evaluate

__all__ = ["ALLOWED", "Caller", "Context", "Decision", "MalformedPolicy", "Policy", "evaluate", "parse",
           "parse_doc", "validate"]
