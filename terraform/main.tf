# orderflow on AWS: ECS Fargate (ingress behind an ALB with WAF; processors), MSK, RDS
# PostgreSQL, ElastiCache Redis, ECR, CloudWatch. `terraform apply`, then push an image and
# run the migrate task before the services roll out (.github/workflows/deploy.yml).

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      Project     = "orderflow"
      Environment = var.environment
    }
  }
}

data "aws_caller_identity" "current" {}

locals {
  name    = "orderflow-${var.environment}"
  account = data.aws_caller_identity.current.account_id
}

# One customer-managed key for everything orderflow stores: logs, MSK, RDS, Redis, secrets,
# images, alarms.
data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_111:a key policy's "*" resource is the key itself, not all resources
  # checkov:skip=CKV_AWS_356:a key policy's "*" resource is the key itself, not all resources
  # checkov:skip=CKV_AWS_109:key administration is limited to this account's root, as AWS recommends
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy, "*" is this key
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${local.account}:root"]
    }
  }
  statement {
    sid = "ServicesUseIt"
    actions = [
      "kms:Encrypt",
      "kms:Decrypt",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:DescribeKey",
    ]
    resources = ["*"]
    principals {
      type = "Service"
      identifiers = [
        "logs.${var.region}.amazonaws.com",
        "cloudwatch.amazonaws.com",
        "delivery.logs.amazonaws.com",
      ]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "orderflow ${var.environment}: logs, Kafka, database, cache, secrets, images"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.this.key_id
}

# Credentials orderflow connects with. RDS manages its own master secret; these two are ours.
resource "random_password" "redis" {
  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "redis" {
  # checkov:skip=CKV2_AWS_57:rotating the Redis AUTH token needs a coordinated ElastiCache change (runbook in README)
  name       = "${local.name}/redis-auth-token"
  kms_key_id = aws_kms_key.this.arn
}

resource "aws_secretsmanager_secret_version" "redis" {
  secret_id     = aws_secretsmanager_secret.redis.id
  secret_string = random_password.redis.result
}

resource "random_password" "kafka" {
  length  = 32
  special = false
}

resource "aws_secretsmanager_secret" "kafka" {
  # checkov:skip=CKV2_AWS_57:MSK SCRAM credentials are rotated by re-associating a new secret (runbook in README)
  name       = "AmazonMSK_${local.name}" # MSK requires the AmazonMSK_ prefix
  kms_key_id = aws_kms_key.this.arn
}

resource "aws_secretsmanager_secret_version" "kafka" {
  secret_id     = aws_secretsmanager_secret.kafka.id
  secret_string = jsonencode({ username = "orderflow", password = random_password.kafka.result })
}

module "network" {
  source      = "./modules/network"
  name        = local.name
  region      = var.region
  cidr        = var.vpc_cidr
  kms_key_arn = aws_kms_key.this.arn

  availability_zones = var.availability_zones
}

module "registry" {
  source      = "./modules/registry"
  name        = "orderflow"
  kms_key_arn = aws_kms_key.this.arn
}

module "edge" {
  source                   = "./modules/edge"
  name                     = local.name
  vpc_id                   = module.network.vpc_id
  vpc_cidr                 = module.network.vpc_cidr
  public_subnet_ids        = module.network.public_subnet_ids
  certificate_arn          = var.certificate_arn
  kms_key_arn              = aws_kms_key.this.arn
  rate_limit_per_5_minutes = var.waf_rate_limit_per_5_minutes
}

module "ecs" {
  source                = "./modules/ecs"
  name                  = local.name
  vpc_id                = module.network.vpc_id
  vpc_cidr              = module.network.vpc_cidr
  subnet_ids            = module.network.private_subnet_ids
  alb_security_group_id = module.edge.security_group_id
  target_group_arn      = module.edge.target_group_arn
  image                 = "${module.registry.repository_url}:${var.image_tag}"
  repository_arn        = module.registry.repository_arn
  kms_key_arn           = aws_kms_key.this.arn
  secret_arns = {
    database = module.database.master_secret_arn
    redis    = aws_secretsmanager_secret.redis.arn
    kafka    = aws_secretsmanager_secret.kafka.arn
  }
  kafka_bootstrap_brokers = module.kafka.bootstrap_brokers
  kafka_cluster_name      = module.kafka.cluster_name
  database_endpoint       = module.database.endpoint
  redis_endpoint          = module.cache.primary_endpoint
  task_cpu                = var.task_cpu
  task_memory             = var.task_memory
  ingress_min_count       = var.ingress_min_count
  ingress_max_count       = var.ingress_max_count
  processor_min_count     = var.processor_min_count
  partitions              = var.partitions
  processor_lag_target    = var.processor_lag_target
}

module "kafka" {
  source                   = "./modules/kafka"
  name                     = local.name
  vpc_id                   = module.network.vpc_id
  vpc_cidr                 = module.network.vpc_cidr
  subnet_ids               = module.network.private_subnet_ids
  client_security_group_id = module.ecs.task_security_group_id
  kms_key_arn              = aws_kms_key.this.arn
  scram_secret_arn         = aws_secretsmanager_secret.kafka.arn
  kafka_version            = var.kafka_version
  instance_type            = var.kafka_instance_type
  volume_size_gb           = var.kafka_volume_size_gb
  partitions               = var.partitions
}

module "database" {
  source                   = "./modules/database"
  name                     = local.name
  vpc_id                   = module.network.vpc_id
  vpc_cidr                 = module.network.vpc_cidr
  subnet_ids               = module.network.private_subnet_ids
  client_security_group_id = module.ecs.task_security_group_id
  kms_key_arn              = aws_kms_key.this.arn
  engine_version           = var.postgres_version
  instance_class           = var.db_instance_class
  storage_gb               = var.db_storage_gb
}

module "cache" {
  source                   = "./modules/cache"
  name                     = local.name
  vpc_id                   = module.network.vpc_id
  vpc_cidr                 = module.network.vpc_cidr
  subnet_ids               = module.network.private_subnet_ids
  client_security_group_id = module.ecs.task_security_group_id
  kms_key_arn              = aws_kms_key.this.arn
  engine_version           = var.redis_version
  node_type                = var.redis_node_type
  auth_token               = random_password.redis.result
}

module "monitoring" {
  source                   = "./modules/monitoring"
  name                     = local.name
  region                   = var.region
  kms_key_arn              = aws_kms_key.this.arn
  kafka_cluster_name       = module.kafka.cluster_name
  alb_arn_suffix           = module.edge.arn_suffix
  alarm_emails             = var.alarm_emails
  lag_alarm_threshold      = var.lag_alarm_threshold
  http_5xx_alarm_threshold = var.http_5xx_alarm_threshold
}
