// Deploy guides for a runner: the exact commands per target, filled in with the runner's name,
// its credentials file (credentials.json, as downloaded) and the image. The image is the one
// services/Dockerfile builds (cloudops, entrypoint `cloudops`), so every target runs
// `/usr/local/bin/planton-runner start`; the credentials reach it as a secret: a mounted
// credentials.json (Helm chart) or the JSON in PLANTON_RUNNER_CREDENTIALS.

export const TARGETS = [
  {
    id: 'kubernetes',
    label: 'Kubernetes',
    blurb:
      'One command with your own kubeconfig: planton runner deploy applies the objects of the helm/planton-runner chart (a Deployment with health probes, a Secret with credentials.json, a ServiceAccount, RBAC that can view, edit and exec but never reads Secrets unless asked).',
    fields: [
      ['namespace', 'Namespace', 'planton'],
      ['image', 'Image', 'cloudops:0.1.0'],
      ['context', 'kubeconfig context (optional)', ''],
    ],
  },
  {
    id: 'ecs',
    label: 'AWS ECS (Fargate)',
    blurb: 'One Fargate task kept running by an ECS service; the credentials in AWS Secrets Manager.',
    fields: [
      ['region', 'Region', 'eu-west-1'],
      ['cluster', 'ECS cluster', 'planton-runners'],
      ['subnets', 'Subnets (comma-separated, with outbound internet access)', 'subnet-0123456789abcdef0'],
      ['securityGroup', 'Security group (outbound only)', 'sg-0123456789abcdef0'],
      ['image', 'Image (ECR)', '123456789012.dkr.ecr.eu-west-1.amazonaws.com/cloudops:0.1.0'],
      ['taskRole', 'Task role for the runner’s AWS calls (optional)', ''],
    ],
  },
  {
    id: 'cloudrun',
    label: 'GCP Cloud Run',
    blurb:
      'One command with your own gcloud credentials: planton runner deploy makes a Cloud Run service with one always-on instance (CPU always allocated, no inbound traffic: the runner only dials out) and keeps the credentials in Secret Manager. Or, step by step, a worker pool.',
    fields: [
      ['project', 'Project', 'acme-prod'],
      ['region', 'Region', 'europe-west1'],
      ['image', 'Image (Artifact Registry)', 'europe-west1-docker.pkg.dev/acme-prod/cloudops/cloudops:0.1.0'],
      ['serviceAccount', 'Service account (optional; default: the Compute Engine default)', ''],
    ],
  },
  {
    id: 'containerapps',
    label: 'Azure Container Apps',
    blurb:
      'One command with your own Azure login: planton runner deploy makes a Container App with exactly one replica and no ingress, in the environment’s location; the credentials as a Container Apps secret (or a Key Vault reference with --key-vault and --identity).',
    fields: [
      ['resourceGroup', 'Resource group', 'ops-rg'],
      ['environment', 'Container Apps environment', 'ops-env'],
      ['image', 'Image (ACR)', 'acmeregistry.azurecr.io/cloudops:0.1.0'],
    ],
  },
];

export const CREDENTIALS_FILE = 'credentials.json';

/** Quotes a value for a POSIX shell when it needs it. */
const sh = (v) => (/^[\w@%+=:,./-]+$/.test(v) ? v : `'${String(v).replace(/'/g, `'\\''`)}'`);

function splitImage(image) {
  const at = image.lastIndexOf(':');
  const slash = image.lastIndexOf('/');
  return at > slash ? [image.slice(0, at), image.slice(at + 1)] : [image, ''];
}

/** An image as `planton runner deploy` takes it: registry, repository and tag flags. */
function imageParts(image) {
  const [repo, tag] = splitImage(image);
  const slash = repo.lastIndexOf('/');
  const [registry, repository] = slash > 0 ? [repo.slice(0, slash), repo.slice(slash + 1)] : ['', repo];
  const flags = [
    registry ? `--image-registry ${sh(registry)}` : '',
    repository !== 'cloudops' ? `--image-repository ${sh(repository)}` : '',
    tag ? `--image-tag ${sh(tag)}` : '',
  ].filter(Boolean);
  return { registry, repository, tag, flags };
}

function kubernetes(name, v, site) {
  const { registry, repository, tag, flags: image } = imageParts(v.image);
  const cctx = v.context ? ` --context ${sh(v.context)}` : '';
  const deploy = `${name}-planton-runner`;
  return [
    {
      title: 'Deploy it with the credentials file (re-run with another --image-tag to update it)',
      code: [
        `planton runner deploy ${sh(name)} --target kubernetes \\`,
        `  --namespace ${sh(v.namespace)}${cctx} \\`,
        `  --credentials-file ./${CREDENTIALS_FILE}${image.length ? ` \\\n  ${image.join(' ')}` : ''}`,
      ].join('\n'),
    },
    {
      title: 'Or with Helm, from this control plane’s chart repository',
      code: [
        `helm upgrade --install ${sh(name)} planton-runner --repo ${sh(site.chartRepo)}${v.context ? ` --kube-context ${sh(v.context)}` : ''} \\`,
        `  --namespace ${sh(v.namespace)} --create-namespace \\`,
        `  --set-file credentials=./${CREDENTIALS_FILE} \\`,
        `  --set image.repository=${sh(repository)}${registry ? ` --set image.registry=${sh(registry)}` : ''}${tag ? ` --set image.tag=${sh(tag)}` : ''}`,
      ].join('\n'),
    },
    {
      title: 'Check that it runs (ready once its tunnel is up)',
      code: [
        `kubectl${cctx} --namespace ${sh(v.namespace)} rollout status deployment/${deploy}`,
        `kubectl${cctx} --namespace ${sh(v.namespace)} logs deployment/${deploy}`,
      ].join('\n'),
    },
  ];
}

function ecs(name, v) {
  const subnets = v.subnets.split(/[\s,]+/).filter(Boolean).join(',');
  const secretName = `planton-runner/${name}`;
  const family = `planton-runner-${name}`;
  const taskRole = v.taskRole ? `\n  "taskRoleArn": "$(aws iam get-role --role-name ${v.taskRole} --query Role.Arn --output text)",` : '';
  const roleArn = (role) => `"$(aws iam get-role --role-name ${sh(role)} --query Role.Arn --output text)"`;
  const deploy = [
    `planton runner deploy ${sh(name)} --target aws-ecs --region ${sh(v.region)} --cluster ${sh(v.cluster)} \\`,
    `  --subnets ${sh(subnets)} --security-groups ${sh(v.securityGroup)} --assign-public-ip \\`,
    `  --execution-role-arn ${roleArn('ecsTaskExecutionRole')}${v.taskRole ? ` --task-role-arn ${roleArn(v.taskRole)}` : ''} \\`,
    `  --credentials-file ./${CREDENTIALS_FILE} ${imageParts(v.image).flags.join(' ')}`,
    '# then let the execution role read the secret (the second step below, with this ARN):',
    `SECRET_ARN=$(aws secretsmanager describe-secret --secret-id ${sh(secretName)} --query ARN --output text)`,
  ];
  return [
    {
      title: 'In one command, or step by step below',
      code: deploy.join('\n'),
    },
    {
      title: 'Store the credentials in Secrets Manager',
      code: [
        `export AWS_REGION=${sh(v.region)}`,
        `SECRET_ARN=$(aws secretsmanager create-secret --name ${sh(secretName)} \\`,
        `  --secret-string file://${CREDENTIALS_FILE} --query ARN --output text)`,
      ].join('\n'),
    },
    {
      title: 'Let the task execution role read that secret',
      code: [
        'EXECUTION_ROLE_ARN=$(aws iam get-role --role-name ecsTaskExecutionRole --query Role.Arn --output text)',
        `aws iam put-role-policy --role-name ecsTaskExecutionRole --policy-name ${sh(`${family}-credentials`)} \\`,
        `  --policy-document "{\\"Version\\":\\"2012-10-17\\",\\"Statement\\":[{\\"Effect\\":\\"Allow\\",\\"Action\\":\\"secretsmanager:GetSecretValue\\",\\"Resource\\":\\"$SECRET_ARN\\"}]}"`,
      ].join('\n'),
    },
    {
      title: 'Register the task definition (PLANTON_RUNNER_CREDENTIALS from the secret)',
      code: [
        `aws logs create-log-group --log-group-name /ecs/${family}`,
        `cat > ${family}-task.json <<EOF`,
        '{',
        `  "family": "${family}",`,
        '  "requiresCompatibilities": ["FARGATE"],',
        '  "networkMode": "awsvpc",',
        '  "cpu": "256",',
        '  "memory": "512",',
        `  "executionRoleArn": "$EXECUTION_ROLE_ARN",${taskRole}`,
        '  "containerDefinitions": [{',
        '    "name": "runner",',
        `    "image": "${v.image}",`,
        '    "essential": true,',
        '    "entryPoint": ["/usr/local/bin/planton-runner"],',
        '    "command": ["start"],',
        '    "secrets": [{"name": "PLANTON_RUNNER_CREDENTIALS", "valueFrom": "$SECRET_ARN"}],',
        '    "logConfiguration": {"logDriver": "awslogs", "options": {',
        `      "awslogs-group": "/ecs/${family}", "awslogs-region": "${v.region}", "awslogs-stream-prefix": "runner"}}`,
        '  }]',
        '}',
        'EOF',
        `aws ecs register-task-definition --cli-input-json file://${family}-task.json`,
      ].join('\n'),
    },
    {
      title: 'Run exactly one task, always',
      code: [
        `aws ecs create-cluster --cluster-name ${sh(v.cluster)}`,
        `aws ecs create-service --cluster ${sh(v.cluster)} --service-name ${sh(family)} \\`,
        `  --task-definition ${sh(family)} --desired-count 1 --launch-type FARGATE \\`,
        '  --deployment-configuration "minimumHealthyPercent=100,maximumPercent=200" \\',
        `  --network-configuration "awsvpcConfiguration={subnets=[${subnets}],securityGroups=[${v.securityGroup}],assignPublicIp=ENABLED}"`,
        `aws ecs wait services-stable --cluster ${sh(v.cluster)} --services ${sh(family)}`,
      ].join('\n'),
    },
  ];
}

function cloudrun(name, v) {
  const secret = `${name}-credentials`;
  const p = `--project=${sh(v.project)}`;
  const member = v.serviceAccount
    ? `serviceAccount:${v.serviceAccount}`
    : `serviceAccount:$(gcloud projects describe ${sh(v.project)} --format='value(projectNumber)')-compute@developer.gserviceaccount.com`;
  return [
    {
      title: 'In one command (re-run with another --image-tag to update it), or step by step below',
      code: [
        `planton runner deploy ${sh(name)} --target gcp-cloud-run --project ${sh(v.project)} --region ${sh(v.region)} \\`,
        `  ${v.serviceAccount ? `--service-account ${sh(v.serviceAccount)} ` : ''}--credentials-file ./${CREDENTIALS_FILE} ${imageParts(v.image).flags.join(' ')}`,
        `# the runner's service account reads the secret planton-runner-${name}:`,
        `gcloud secrets add-iam-policy-binding ${sh(`planton-runner-${name}`)} ${p} \\`,
        `  --member="${member}" --role=roles/secretmanager.secretAccessor`,
      ].join('\n'),
    },
    {
      title: 'Store the credentials in Secret Manager',
      code: [
        `gcloud secrets create ${sh(secret)} ${p} --replication-policy=automatic --data-file=${CREDENTIALS_FILE}`,
        `gcloud secrets add-iam-policy-binding ${sh(secret)} ${p} \\`,
        `  --member="${member}" \\`,
        '  --role=roles/secretmanager.secretAccessor',
      ].join('\n'),
    },
    {
      title: 'Deploy one always-on instance (PLANTON_RUNNER_CREDENTIALS from the secret)',
      code: [
        `gcloud run worker-pools deploy ${sh(name)} ${p} --region=${sh(v.region)} \\`,
        `  --image=${sh(v.image)} \\`,
        '  --command=/usr/local/bin/planton-runner --args=start \\',
        `  --set-secrets=PLANTON_RUNNER_CREDENTIALS=${secret}:latest \\`,
        `  --instances=1${v.serviceAccount ? ` \\\n  --service-account=${sh(v.serviceAccount)}` : ''}`,
      ].join('\n'),
    },
    {
      title: 'Check that it runs',
      code: `gcloud logging read 'resource.type="cloud_run_worker_pool" AND resource.labels.worker_pool_name="${name}"' ${p} --limit=20`,
    },
  ];
}

function containerapps(name, v) {
  const rg = `--resource-group ${sh(v.resourceGroup)}`;
  const { registry, flags } = imageParts(v.image);
  return [
    {
      title: 'In one command (re-run with another --image-tag to update it), or with az below',
      code: [
        `planton runner deploy ${sh(name)} --target azure-container-apps --subscription "$(az account show --query id --output tsv)" \\`,
        `  ${rg} --environment ${sh(v.environment)} \\`,
        `  --credentials-file ./${CREDENTIALS_FILE} ${flags.join(' ')}`,
        ...(registry.endsWith('.azurecr.io')
          ? ['# to pull from the registry, add --identity with the resource id of a user-assigned identity that has AcrPull']
          : []),
      ].join('\n'),
    },
    {
      title: 'Create the app with one replica (PLANTON_RUNNER_CREDENTIALS from a secret)',
      code: [
        `az containerapp create --name ${sh(name)} ${rg} \\`,
        `  --environment ${sh(v.environment)} --image ${sh(v.image)} \\`,
        '  --command /usr/local/bin/planton-runner --args start \\',
        `  --secrets "runner-credentials=$(cat ${CREDENTIALS_FILE})" \\`,
        '  --env-vars PLANTON_RUNNER_CREDENTIALS=secretref:runner-credentials \\',
        '  --min-replicas 1 --max-replicas 1 --cpu 0.25 --memory 0.5Gi',
      ].join('\n'),
    },
    {
      title: 'Check that it runs',
      code: `az containerapp logs show --name ${sh(name)} ${rg} --follow`,
    },
  ];
}

const GUIDES = { kubernetes, ecs, cloudrun, containerapps };

/**
 * The guide's steps ({title, code}) for `target` with the user's `values`. `site.chartRepo`:
 * this control plane's Helm chart repository (`<gateway>/v1/charts`, as the browser reaches it).
 */
export function guide(target, name, values, site) {
  return GUIDES[target](name, values, site);
}

/** The connection to create afterwards, per target (the runner's own provider). */
export function nextSteps(target, name) {
  const provider = { kubernetes: 'kubernetes', ecs: 'aws', cloudrun: 'gcp', containerapps: 'azure' }[target];
  const example = {
    kubernetes: `planton connection create k8s-${name} --provider kubernetes --runner ${name}`,
    aws: `planton connection create aws-${name} --provider aws --runner ${name} --set region=eu-west-1`,
    gcp: `planton connection create gcp-${name} --provider gcp --runner ${name} --set project=acme-prod`,
    azure: `planton connection create azure-${name} --provider azure --runner ${name} --set subscription=SUBSCRIPTION_ID`,
  }[provider];
  return { provider, example };
}
