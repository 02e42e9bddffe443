"""Infrastructure as code: the CloudFormation template rendered from the resource definitions in chalicelib."""
