// Lets `serverless package` run without AWS credentials (`make package`, `make check-deploy`).
// To reuse an unchanged layer, Serverless v3 asks CloudFormation for the last deployed stack
// while packaging; offline there is no last deploy to ask about, so that one question is
// answered "does not exist" (what Serverless expects for a first deploy). Only active when
// SLS_OFFLINE_PACKAGE=1; `serverless deploy` is untouched.
class OfflinePackage {
  constructor(serverless) {
    if (process.env.SLS_OFFLINE_PACKAGE !== '1') {
      return;
    }
    const provider = serverless.getProvider('aws');
    const request = provider.request.bind(provider);
    provider.request = async (service, method, params, ...rest) => {
      if (service === 'CloudFormation' && method === 'describeStacks') {
        throw new Error(`Stack with id ${params.StackName} does not exist`);
      }
      return request(service, method, params, ...rest);
    };
  }
}

module.exports = OfflinePackage;
