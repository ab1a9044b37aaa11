"""Environment variables encrypted at rest under the function's KMS key.

The variables are sealed with KMS ``Encrypt`` under ``KMSKeyArn`` (or the
AWS-managed ``alias/aws/lambda``) by the KMS service this broker hosts; the
function record keeps only the ciphertext. They are opened with ``Decrypt``
when a configuration is read and when an environment starts, so a disabled
or deleted key fails both as AWS does (KMSDisabledException, ...).
"""

from __future__ import annotations

import base64
import json

from services.awslambda.model import err

DEFAULT_KEY = "alias/aws/lambda"
MAX_ENV_BYTES = 4096

_KMS_ERRORS = {
    "DisabledException": ("KMSDisabledException", "Lambda was unable to decrypt the environment variables because "
                          "the KMS key used is disabled. Please check the function's KMS key settings."),
    "KMSInvalidStateException": ("KMSInvalidStateException", "Lambda was unable to decrypt the environment "
                                 "variables because the KMS key used is in an invalid state for Decrypt. Please "
                                 "check the function's KMS key settings."),
    "NotFoundException": ("KMSNotFoundException", "Lambda was unable to decrypt the environment variables because "
                          "the KMS key was not found. Please check the function's KMS key settings."),
    "AccessDeniedException": ("KMSAccessDeniedException", "Lambda was unable to decrypt the environment variables "
                              "because KMS access was denied. Please check the function's KMS key settings."),
}


def check_size(variables: dict) -> None:
    size = sum(len(k) + len(v) for k, v in variables.items())
    if size > MAX_ENV_BYTES:
        raise err("InvalidParameterValueException",
                  f"Lambda was unable to configure your environment variables because the environment variables "
                  f"you have provided exceeded the 4KB limit. String measured: {json.dumps(variables)}")
    reserved = {"_HANDLER", "AWS_REGION", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_LOG_GROUP_NAME",
                "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"}
    bad = sorted(reserved & set(variables))
    if bad:
        raise err("InvalidParameterValueException",
                  f"Lambda was unable to configure your environment variables because the environment variables "
                  f"you have provided contains reserved keys that are currently not supported for modification. "
                  f"Reserved keys used in this request: {', '.join(bad)}")


async def encrypt(host, account: str, region: str, variables: dict, kms_arn: str | None) -> str:
    from services.internal import caller
    try:
        out = await caller(host).call("kms", "Encrypt", {"KeyId": kms_arn or DEFAULT_KEY,
                                                         "Plaintext": json.dumps(variables).encode()},
                                      account=account, region=region)
    except Exception as exc:        # ServiceError here, or the KMS shard's error over IPC
        if getattr(exc, "code", None) is None:
            raise
        code, text = _KMS_ERRORS.get(exc.code, ("KMSAccessDeniedException", getattr(exc, "message", str(exc))))
        if exc.code in ("NotFoundException",) and kms_arn:
            raise err("InvalidParameterValueException",
                      f"Lambda was unable to configure access to your environment variables because the KMS key "
                      f"is invalid for CreateGrant. Please check your KMS key settings. KMS Exception: "
                      f"NotFoundException KMS Message: {exc.message}") from None
        raise err(code, text.replace("decrypt", "encrypt").replace("Decrypt", "Encrypt"), 502) from None
    return base64.b64encode(out["CiphertextBlob"]).decode()


async def decrypt(host, account: str, region: str, ct: str, kms_arn: str | None) -> dict:
    from services.internal import caller
    try:
        out = await caller(host).call("kms", "Decrypt", {"CiphertextBlob": base64.b64decode(ct)},
                                      account=account, region=region)
    except Exception as exc:
        if getattr(exc, "code", None) is None:
            raise
        code, text = _KMS_ERRORS.get(exc.code, ("KMSAccessDeniedException", getattr(exc, "message", str(exc))))
        raise err(code, text, 502) from None
    return json.loads(out["Plaintext"])
