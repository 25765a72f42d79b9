#!/usr/bin/env bash
# What every Makefile target that talks to AWS checks first, in seconds and before anything is
# built: the AWS CLI, usable credentials, the region, and (for deploys and invokes) the stage's
# SDK key parameter. Anything missing is one line saying what to set.
#
#   scripts/aws-preflight.sh <region> <ssm-path> [--parameters]
set -uo pipefail

region=$1
ssm_path=$2
check_parameters=${3:-}

fail() { echo "make: $*" >&2; exit 1; }
# Bounded: an unreachable endpoint or a hanging credential process fails here, not in 20 min.
aws_() {
  AWS_REGION=$region AWS_DEFAULT_REGION=$region timeout 25 \
    aws --cli-connect-timeout 5 --cli-read-timeout 10 "$@" 2>&1
}
last_line() { tail -n 1 <<<"$1" | cut -c1-200; }

# Settings that cannot work together, before anything else (serverless.yml's params).
if [ -n "${CAPACITY_PROVIDER:-}" ] && [ -n "${CAPACITY_PROVIDER_SUBNETS:-}" ]; then
  fail "CAPACITY_PROVIDER and CAPACITY_PROVIDER_SUBNETS are both set: give an existing capacity provider, or subnets and security groups for one the stack creates, not both"
fi
if [ -n "${CAPACITY_PROVIDER_SUBNETS:-}" ] && [ -z "${CAPACITY_PROVIDER_SECURITY_GROUPS:-}" ]; then
  fail "CAPACITY_PROVIDER_SUBNETS needs CAPACITY_PROVIDER_SECURITY_GROUPS=sg-...[,sg-...] (the security groups of the instances the capacity provider launches)"
fi

command -v aws >/dev/null \
  || fail "the AWS CLI is not installed: install it (https://docs.aws.amazon.com/cli/), run \`aws configure\`, and retry"
[ -n "$region" ] || fail "no AWS region: set REGION=<region> (or AWS_REGION, or a region in your AWS profile)"

if ! account=$(aws_ sts get-caller-identity --query Account --output text); then
  fail "no usable AWS credentials for region $region: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run \`aws sso login\` ($(last_line "$account"))"
fi

if [ "$check_parameters" = --parameters ]; then
  if ! found=$(aws_ ssm get-parameter --name "$ssm_path/sdkkey" --query Parameter.Name --output text); then
    case "$found" in
      *ParameterNotFound*) fail "the SDK key parameter $ssm_path/sdkkey does not exist in account $account, region $region: create it with \`aws ssm put-parameter --name $ssm_path/sdkkey --type SecureString --value <sdk-key>\` (or set SSM_PATH)" ;;
      *) fail "the SDK key parameter $ssm_path/sdkkey cannot be read in region $region: $(last_line "$found")" ;;
    esac
  fi
  if ! aws_ ssm get-parameter --name "$ssm_path/webhooksecret" --query Parameter.Name --output text >/dev/null; then
    echo "make: note: no webhook secret parameter $ssm_path/webhooksecret yet: webhooks are refused (401) until it exists (see the README's LaunchDarkly webhook section)" >&2
  fi
fi
echo "make: AWS account $account, region $region" >&2
