#!/usr/bin/env bash
# Deploys vpce-remediator to every account of the given OUs, in the given Regions, as one CloudFormation
# StackSet with service-managed permissions and automatic deployment to accounts that join those OUs later.
# Step by step, and what it needs first: docs/scale.md.
#
#   org/deploy-stackset.sh --bucket-prefix my-org-vpce-artifacts --ou-ids ou-ab12-11111111,ou-ab12-22222222 \
#       --regions eu-west-1,eu-central-1 [--home-region eu-west-1] [--stack-set-name vpce-remediator] \
#       [--parameters org/stackset-params.json] [--call-as SELF|DELEGATED_ADMIN] [--profile P] \
#       [--max-concurrent-percentage 25] [--failure-tolerance-percentage 10] [--dry-run]
#
# Run it in the management account or a registered CloudFormation delegated administrator (--call-as
# DELEGATED_ADMIN), with credentials for that account. It:
#   1. builds (make build) and packages (sam package) the application into the home Region's bucket,
#      <bucket-prefix>-<home-region>;
#   2. expands the SAM transform offline (org/expand_sam.py): service-managed StackSets accept no transform;
#   3. copies the code objects into every target Region's bucket, <bucket-prefix>-<region> (Lambda reads code
#      only from its own Region), and uploads the expanded template;
#   4. creates the StackSet and its stack instances, or, if it exists, updates it (all instances), and waits
#      for the operation.
# The buckets must exist and carry the organisation read policy (org/artifact-bucket-policy.json).
# --dry-run prints every command (to stderr) instead of running it: nothing is built, uploaded or created.
set -euo pipefail

usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

bucket_prefix="" ou_ids="" regions="" home_region="" stack_set_name="vpce-remediator"
parameters="" call_as="SELF" profile="" dry_run=0
max_concurrent=25 failure_tolerance=10
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bucket-prefix) bucket_prefix="$2"; shift 2 ;;
    --ou-ids) ou_ids="$2"; shift 2 ;;
    --regions) regions="$2"; shift 2 ;;
    --home-region) home_region="$2"; shift 2 ;;
    --stack-set-name) stack_set_name="$2"; shift 2 ;;
    --parameters) parameters="$2"; shift 2 ;;
    --call-as) call_as="$2"; shift 2 ;;
    --profile) profile="$2"; shift 2 ;;
    --max-concurrent-percentage) max_concurrent="$2"; shift 2 ;;
    --failure-tolerance-percentage) failure_tolerance="$2"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
[[ -n "$bucket_prefix" && -n "$ou_ids" && -n "$regions" ]] || usage
[[ "$call_as" == "SELF" || "$call_as" == "DELEGATED_ADMIN" ]] || { echo "--call-as must be SELF or DELEGATED_ADMIN" >&2; exit 2; }
[[ "$ou_ids" =~ ^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})(,(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32}))*$ ]] \
  || { echo "--ou-ids: comma-separated OU ids (ou-xxxx-xxxxxxxx) or the root id (r-xxxx)" >&2; exit 2; }
home_region="${home_region:-${regions%%,*}}"
if [[ -n "$parameters" ]]; then
  [[ -f "$parameters" ]] || { echo "parameters file not found: $parameters" >&2; exit 2; }
  parameters="$(cd "$(dirname "$parameters")" && pwd)/$(basename "$parameters")"
fi

cd "$(dirname "$0")/.."
parameters="${parameters:-$PWD/org/stackset-params.json}"
IFS=',' read -r -a region_list <<< "$regions"
IFS=',' read -r -a ou_list <<< "$ou_ids"
python="${PYTHON:-.venv/bin/python}"
sam_cli="${SAM:-sam}"
[[ -z "${SAM:-}" && -x .venv/bin/sam ]] && sam_cli=.venv/bin/sam
version="$(git rev-parse --short=12 HEAD 2>/dev/null || date -u +%Y%m%d%H%M%S)"
if ! git diff --quiet HEAD 2>/dev/null; then version="${version}-dirty-$(date -u +%Y%m%d%H%M%S)"; fi
key_prefix="vpce-remediator/${version}"
home_bucket="${bucket_prefix}-${home_region}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

aws_cli() {
  local args=("$@")
  [[ -n "$profile" ]] && args+=(--profile "$profile")
  if [[ "$dry_run" == 1 ]]; then
    { printf '+ aws'; printf ' %q' "${args[@]}"; printf '\n'; } >&2
    return 0
  fi
  aws "${args[@]}"
}

run() {
  if [[ "$dry_run" == 1 ]]; then
    { printf '+'; printf ' %q' "$@"; printf '\n'; } >&2
    return 0
  fi
  "$@"
}

operation_preferences="RegionConcurrencyType=PARALLEL,MaxConcurrentPercentage=${max_concurrent},FailureTolerancePercentage=${failure_tolerance}"

wait_for() {
  local operation_id="$1" status
  [[ "$dry_run" == 1 ]] && return 0
  echo "waiting for StackSet operation ${operation_id}..."
  while true; do
    status="$(aws_cli cloudformation describe-stack-set-operation --stack-set-name "$stack_set_name" \
      --operation-id "$operation_id" --call-as "$call_as" --region "$home_region" \
      --query StackSetOperation.Status --output text)"
    case "$status" in
      SUCCEEDED) echo "operation ${operation_id}: SUCCEEDED"; return 0 ;;
      FAILED|STOPPED)
        echo "operation ${operation_id}: ${status}; failed instances:" >&2
        aws_cli cloudformation list-stack-set-operation-results --stack-set-name "$stack_set_name" \
          --operation-id "$operation_id" --call-as "$call_as" --region "$home_region" \
          --query "Summaries[?Status!='SUCCEEDED'].[Account,Region,Status,StatusReason]" --output table >&2
        return 1 ;;
      *) sleep 30 ;;
    esac
  done
}

echo "== 1. build and package into s3://${home_bucket}/${key_prefix}/"
run make build
sam_args=(package --template-file .aws-sam/build/template.yaml --s3-bucket "$home_bucket" --s3-prefix "$key_prefix"
  --region "$home_region" --output-template-file "$work/packaged.yaml")
[[ -n "$profile" ]] && sam_args+=(--profile "$profile")
run "$sam_cli" "${sam_args[@]}"

echo "== 2. expand the SAM transform (service-managed StackSets accept none)"
if [[ "$dry_run" == 1 ]]; then
  run "$python" org/expand_sam.py "$work/packaged.yaml" --output "$work/stackset.json" \
    --regional-bucket "${bucket_prefix}-\${AWS::Region}" --parameters "$parameters" --list-artifacts
else
  "$python" org/expand_sam.py "$work/packaged.yaml" --output "$work/stackset.json" \
    --regional-bucket "${bucket_prefix}-\${AWS::Region}" --parameters "$parameters" --list-artifacts > "$work/artifacts.txt"
fi

echo "== 3. code into every target Region's bucket; the template next to it"
for region in "${region_list[@]}"; do
  [[ "$region" == "$home_region" ]] && continue
  if [[ "$dry_run" == 1 ]]; then
    aws_cli s3 cp "s3://${home_bucket}/<each key in artifacts>" "s3://${bucket_prefix}-${region}/<same key>" \
      --source-region "$home_region" --region "$region"
    continue
  fi
  while read -r bucket key; do
    aws_cli s3 cp "s3://${bucket}/${key}" "s3://${bucket_prefix}-${region}/${key}" \
      --source-region "$home_region" --region "$region" --only-show-errors
  done < "$work/artifacts.txt"
done
aws_cli s3 cp "$work/stackset.json" "s3://${home_bucket}/${key_prefix}/stackset.json" --region "$home_region" --only-show-errors
template_url="https://${home_bucket}.s3.${home_region}.amazonaws.com/${key_prefix}/stackset.json"

echo "== 4. StackSet ${stack_set_name} (home Region ${home_region}, call-as ${call_as})"
if [[ "$dry_run" == 0 ]] && aws_cli cloudformation describe-stack-set --stack-set-name "$stack_set_name" \
    --call-as "$call_as" --region "$home_region" > /dev/null 2>&1; then
  # Updates every instance (auto-deployed ones included) to the new template and parameters.
  operation_id="$(aws_cli cloudformation update-stack-set --stack-set-name "$stack_set_name" \
    --template-url "$template_url" --parameters "file://${parameters}" --capabilities CAPABILITY_IAM \
    --operation-preferences "$operation_preferences" --call-as "$call_as" --region "$home_region" \
    --query OperationId --output text)"
  wait_for "$operation_id"
  exit 0
fi
aws_cli cloudformation create-stack-set --stack-set-name "$stack_set_name" \
  --description "vpce-remediator: keeps opted-in private subnets supplied with VPC endpoints" \
  --template-url "$template_url" --parameters "file://${parameters}" --capabilities CAPABILITY_IAM \
  --permission-model SERVICE_MANAGED --auto-deployment Enabled=true,RetainStacksOnAccountRemoval=false \
  --managed-execution Active=true --call-as "$call_as" --region "$home_region"
operation_id="$(aws_cli cloudformation create-stack-instances --stack-set-name "$stack_set_name" \
  --deployment-targets "OrganizationalUnitIds=$(IFS=','; echo "${ou_list[*]}")" --regions "${region_list[@]}" \
  --operation-preferences "$operation_preferences" --call-as "$call_as" --region "$home_region" \
  --query OperationId --output text)"
wait_for "$operation_id"
