/**
 * A consumer of the median-client package: create a session, add 3 1 2 10, read the median,
 * delete the session, and check that reading it again fails with NOT_FOUND as a MedianError.
 *
 *   node dist/main.js HOST:PORT
 */
import { MedianClient, MedianError, status } from "median-client";

async function main(target: string): Promise<void> {
  const client = new MedianClient(target);
  try {
    const sessionId = await client.createSession();
    await client.addNumbers(sessionId, [3, 1, 2, 10]);
    const { numberCount, median } = await client.getMedian(sessionId);
    console.log(`count=${numberCount} median=${median}`);
    await client.deleteSession(sessionId);
    try {
      await client.getMedian(sessionId);
    } catch (error) {
      if (error instanceof MedianError && error.code === status.NOT_FOUND) {
        console.log(`deleted: ${error.codeName}`);
        return;
      }
      throw error;
    }
    throw new Error(`session ${sessionId} is still there after DeleteSession`);
  } finally {
    client.close();
  }
}

const target = process.argv[2];
if (target === undefined) {
  console.error("usage: node dist/main.js HOST:PORT");
  process.exitCode = 2;
} else {
  main(target).catch((error: unknown) => {
    console.error(
      `error: ${error instanceof Error ? error.message : String(error)}`,
    );
    process.exitCode = 1;
  });
}
